// The default guest's networking (net.c): eth0 with QEMU's user-network addresses, an HTTP fetch and a
// one-request server, for init's shell.
#ifndef RRVM_GUEST_NET_H
#define RRVM_GUEST_NET_H

// Brings lo and eth0 up: 10.0.2.15/24, default route via 10.0.2.2. Prints one line; 0 on success,
// -1 when there is no eth0 (the machine has no network card).
int net_up(void);

// `fetch URL`: GET http://A.B.C.D[:PORT]/PATH (a numeric address: the guest has no DNS). Prints the body,
// or with `summary` only its size, a CRC-32 of it and the guest time it took. Returns 0 on a 200 answer.
int net_fetch(const char *url, int summary);

// `serve PORT`: answers one HTTP request on PORT (every address) with a short text, then returns 0.
int net_serve(long port);

#endif
