// Sends hand-crafted Ethernet frames verbatim, as an attacker in a pod with CAP_NET_RAW
// can: the kernel adds nothing and checks nothing above the Ethernet header, so tests
// can put forged ARP, router advertisements or broken IP headers on the wire.
//   raw-frames IFNAME HEX-FRAME [HEX-FRAME...]
// Each frame (Ethernet header included, no FCS) is sent once, in order. Exits 0 when all
// were sent; otherwise prints the failing step on one line and exits 1 (2 for bad
// arguments, before anything was sent).
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

static void fail(const char *step, const char *detail)
{
	fprintf(stderr, "raw-frames: %s: %s\n", step, detail);
	exit(1);
}

static void usage(const char *problem, const char *argument)
{
	fprintf(stderr, "raw-frames: %s: %s (usage: raw-frames IFNAME HEX-FRAME [HEX-FRAME...])\n", problem, argument);
	exit(2);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes `hex` into a new buffer; exits on anything but whole bytes of at least a header. */
static unsigned char *decode(const char *hex, size_t *length)
{
	size_t digits = strlen(hex);
	unsigned char *frame;

	if (digits % 2 != 0)
		usage("odd number of hex digits in frame", hex);
	*length = digits / 2;
	/* The kernel refuses shorter frames too, but with a bare EINVAL. */
	if (*length < ETH_HLEN)
		usage("frame shorter than an Ethernet header", hex);
	frame = malloc(*length);
	if (!frame)
		fail("malloc", strerror(errno));
	for (size_t i = 0; i < *length; i++) {
		int high = hex_digit(hex[2 * i]), low = hex_digit(hex[2 * i + 1]);

		if (high < 0 || low < 0)
			usage("not hex", hex);
		frame[i] = high << 4 | low;
	}
	return frame;
}

int main(int argc, char **argv)
{
	struct sockaddr_ll device = { .sll_family = AF_PACKET };
	int count = argc - 2, fd;
	unsigned char **frames;
	size_t *lengths;
	char step[64];

	if (count < 1)
		usage("need an interface and at least one frame", argc > 1 ? argv[1] : "");
	frames = calloc(count, sizeof(*frames));
	lengths = calloc(count, sizeof(*lengths));
	if (!frames || !lengths)
		fail("calloc", strerror(errno));
	/* Every frame is checked before the first is sent, so a typo sends nothing. */
	for (int i = 0; i < count; i++)
		frames[i] = decode(argv[i + 2], &lengths[i]);

	device.sll_ifindex = if_nametoindex(argv[1]);
	if (device.sll_ifindex == 0)
		fail("if_nametoindex", strerror(errno));
	/* Protocol 0: the socket receives nothing, and the kernel reads each frame's
	   EtherType from the frame itself. */
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0)
		fail("socket(AF_PACKET, SOCK_RAW)", strerror(errno));
	if (bind(fd, (struct sockaddr *)&device, sizeof(device)) < 0)
		fail("bind", strerror(errno));
	for (int i = 0; i < count; i++) {
		ssize_t sent = send(fd, frames[i], lengths[i], 0);

		if (sent == (ssize_t)lengths[i])
			continue;
		snprintf(step, sizeof(step), "send frame %d of %d", i + 1, count);
		fail(step, sent < 0 ? strerror(errno) : "sent only part of it");
	}
	close(fd);
	return 0;
}
