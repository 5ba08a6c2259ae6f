// Connection rate, as netperf's TCP_CRR measures it: connect, send a 64-byte request,
// read the 64-byte answer, close; as many times as fit in the given seconds. The
// server closes first, so TIME_WAIT stays on its side and the client never runs out
// of ports.
//   connection-rate server ADDRESS PORT
//   connection-rate client ADDRESS PORT SECONDS   -> prints connections per second
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MESSAGE 64

static void fail(const char *what)
{
	perror(what);
	exit(1);
}

static struct sockaddr_in address_of(const char *ip, const char *port)
{
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(atoi(port)) };

	if (inet_pton(AF_INET, ip, &address.sin_addr) != 1) {
		fprintf(stderr, "not an IPv4 address: %s\n", ip);
		exit(2);
	}
	return address;
}

/* Reads exactly MESSAGE bytes; 0 when the peer closed first. */
static int read_message(int fd, char *buffer)
{
	size_t got = 0;

	while (got < MESSAGE) {
		ssize_t n = read(fd, buffer + got, MESSAGE - got);

		if (n <= 0)
			return 0;
		got += n;
	}
	return 1;
}

static void serve(struct sockaddr_in address)
{
	int one = 1, listener = socket(AF_INET, SOCK_STREAM, 0);
	char buffer[MESSAGE];

	if (listener < 0)
		fail("socket");
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listener, (struct sockaddr *)&address, sizeof(address)) < 0)
		fail("bind");
	if (listen(listener, 1024) < 0)
		fail("listen");
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		int connection = accept(listener, NULL, NULL);

		if (connection < 0)
			continue;
		if (read_message(connection, buffer))
			write(connection, buffer, MESSAGE);
		close(connection);
	}
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void measure(struct sockaddr_in address, double seconds)
{
	char request[MESSAGE] = { 0 }, answer[MESSAGE];
	double start = now(), elapsed;
	long connections = 0;

	while ((elapsed = now() - start) < seconds) {
		int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0)
			fail("socket");
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0)
			fail("connect");
		if (write(fd, request, MESSAGE) != MESSAGE || !read_message(fd, answer)) {
			fprintf(stderr, "exchange %ld failed\n", connections);
			exit(1);
		}
		close(fd);
		connections++;
	}
	printf("%.1f\n", connections / elapsed);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "server") == 0)
		serve(address_of(argv[2], argv[3]));
	if (argc == 5 && strcmp(argv[1], "client") == 0) {
		measure(address_of(argv[2], argv[3]), atof(argv[4]));
		return 0;
	}
	fprintf(stderr, "usage: %s server ADDRESS PORT | client ADDRESS PORT SECONDS\n", argv[0]);
	return 2;
}
