// Round trips over two paths at once, one message on each in turn, so both are timed
// under the same moment of a machine whose speed changes from second to second (a VM
// on a busy host): their ratio resolves differences far smaller than the run-to-run
// spread of either. 64-byte TCP messages, as the other round-trip measures.
//
// IP is an address of either family.
//
//   paired-round-trips server IP PORT
//       echoes every 64-byte message, one connection after another
//   paired-round-trips client NETNS_A IP_A NETNS_B IP_B PORT SECONDS
//       connects from each network namespace (a path under /run/netns) to its server,
//       then alternates round trips (A B B A ...) for SECONDS after a warm-up, and
//       prints {"a":{"average":µs,"p50":µs,"count":n},"b":{...}}
#define _GNU_SOURCE
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MESSAGE 64
#define WARM_UP 2000
#define MAX_SAMPLES (1 << 22)

static void fail(const char *what) {
  perror(what);
  exit(1);
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

// The socket address of a numeric IPv4 or IPv6 address and port (no name lookup).
static struct addrinfo *address_of(const char *ip, const char *port) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV}, *found;
  int error = getaddrinfo(ip, port, &hints, &found);
  if (error) {
    fprintf(stderr, "%s: %s\n", ip, gai_strerror(error));
    exit(1);
  }
  return found;
}

static int no_delay(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) fail("TCP_NODELAY");
  return fd;
}

static int exchange(int fd, char *buffer) {
  if (write(fd, buffer, MESSAGE) != MESSAGE) return -1;
  for (int got = 0; got < MESSAGE;) {
    ssize_t n = read(fd, buffer + got, MESSAGE - got);
    if (n <= 0) return -1;
    got += n;
  }
  return 0;
}

static void serve(const char *ip, const char *port) {
  struct addrinfo *address = address_of(ip, port);
  int one = 1;
  int listener = socket(address->ai_family, SOCK_STREAM, 0);
  if (listener < 0 || setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) fail("socket");
  if (bind(listener, address->ai_addr, address->ai_addrlen) < 0 || listen(listener, 4) < 0) fail("listen");
  freeaddrinfo(address);
  char buffer[MESSAGE];
  for (;;) {
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) continue;
    no_delay(fd);
    for (;;) {
      int got = 0;
      while (got < MESSAGE) {
        ssize_t n = read(fd, buffer + got, MESSAGE - got);
        if (n <= 0) break;
        got += n;
      }
      if (got < MESSAGE || write(fd, buffer, MESSAGE) != MESSAGE) break;
    }
    close(fd);
  }
}

// A socket lives in the namespace it was made in, whatever namespace its process
// moves to afterwards, so one process can hold a connection on each path.
static int connect_from(const char *netns, const char *ip, const char *port) {
  int ns = open(netns, O_RDONLY | O_CLOEXEC);
  if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) fail(netns);
  close(ns);
  struct addrinfo *address = address_of(ip, port);
  int fd = socket(address->ai_family, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, address->ai_addr, address->ai_addrlen) < 0) fail(ip);
  freeaddrinfo(address);
  return no_delay(fd);
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void report(const char *name, double *samples, long count, const char *separator) {
  double sum = 0;
  for (long i = 0; i < count; i++) sum += samples[i];
  qsort(samples, count, sizeof(double), by_value);
  printf("\"%s\":{\"average\":%.4f,\"p50\":%.4f,\"count\":%ld}%s", name, sum / count, samples[count / 2], count, separator);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "server") == 0) serve(argv[2], argv[3]);
  if (argc != 8 || strcmp(argv[1], "client") != 0) {
    fprintf(stderr, "usage: %s server IP PORT | client NETNS_A IP_A NETNS_B IP_B PORT SECONDS\n", argv[0]);
    return 2;
  }
  int fds[2] = {connect_from(argv[2], argv[3], argv[6]), connect_from(argv[4], argv[5], argv[6])};
  double seconds = atof(argv[7]);
  double *samples[2] = {malloc(MAX_SAMPLES * sizeof(double)), malloc(MAX_SAMPLES * sizeof(double))};
  if (!samples[0] || !samples[1]) fail("malloc");
  char buffer[MESSAGE] = {0};
  for (int round = 0; round < WARM_UP; round++) {
    if (exchange(fds[0], buffer) < 0 || exchange(fds[1], buffer) < 0) fail("round trip");
  }
  long count = 0;
  for (double end = now_us() + seconds * 1e6; count < MAX_SAMPLES && now_us() < end; count++) {
    // A B, then B A: neither path always follows the other.
    for (int turn = 0; turn < 2; turn++) {
      int side = turn ^ (int)(count & 1);
      double start = now_us();
      if (exchange(fds[side], buffer) < 0) fail("round trip");
      samples[side][count] = now_us() - start;
    }
  }
  printf("{");
  report("a", samples[0], count, ",");
  report("b", samples[1], count, "");
  printf("}\n");
  return 0;
}
