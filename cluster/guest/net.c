// The default guest's networking: see net.h.
#define _GNU_SOURCE
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GUEST_ADDRESS "10.0.2.15"
#define GUEST_NETMASK "255.255.255.0"
#define GATEWAY_ADDRESS "10.0.2.2"
#define SERVE_TEXT "hello from the rrvm guest\n"

static void set_address(struct sockaddr *target, const char *text) {
    struct sockaddr_in *address = (struct sockaddr_in *)target;
    memset(address, 0, sizeof *address);
    address->sin_family = AF_INET;
    inet_pton(AF_INET, text, &address->sin_addr);
}

// Sets IFF_UP on `name` (and the address and netmask when given); 0 or -1 with errno.
static int interface_up(int fd, const char *name, const char *address, const char *netmask) {
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    if (address) {
        set_address(&request.ifr_addr, address);
        if (ioctl(fd, SIOCSIFADDR, &request) != 0)
            return -1;
        set_address(&request.ifr_netmask, netmask);
        if (ioctl(fd, SIOCSIFNETMASK, &request) != 0)
            return -1;
    }
    if (ioctl(fd, SIOCGIFFLAGS, &request) != 0)
        return -1;
    request.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(fd, SIOCSIFFLAGS, &request);
}

int net_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        printf("  network:        none (%s)\n", strerror(errno));
        return -1;
    }
    interface_up(fd, "lo", NULL, NULL);
    if (interface_up(fd, "eth0", GUEST_ADDRESS, GUEST_NETMASK) != 0) {
        printf("  network:        no eth0 (%s)\n", strerror(errno));
        close(fd);
        return -1;
    }
    struct rtentry route;
    memset(&route, 0, sizeof route);
    set_address(&route.rt_dst, "0.0.0.0");
    set_address(&route.rt_genmask, "0.0.0.0");
    set_address(&route.rt_gateway, GATEWAY_ADDRESS);
    route.rt_flags = RTF_UP | RTF_GATEWAY;
    route.rt_dev = "eth0";
    int routed = ioctl(fd, SIOCADDRT, &route) == 0 || errno == EEXIST;
    printf("  network:        eth0 " GUEST_ADDRESS "/24, gateway " GATEWAY_ADDRESS "%s\n",
           routed ? "" : " (no default route)");
    close(fd);
    return 0;
}

// CRC-32 (IEEE, reflected) a byte at a time from a 256-entry table: `fetch -s` measures the network, and the
// bit-at-a-time loop this replaced cost about 60 guest instructions a byte, most of a download's guest time.
static uint32_t crc32_update(uint32_t crc, const unsigned char *bytes, size_t count) {
    static uint32_t table[256];
    if (table[1] == 0) {
        for (uint32_t byte = 0; byte < 256; byte++) {
            uint32_t value = byte;
            for (int bit = 0; bit < 8; bit++)
                value = (value >> 1) ^ (0xedb88320u & -(value & 1));
            table[byte] = value;
        }
    }
    crc = ~crc;
    for (size_t i = 0; i < count; i++)
        crc = (crc >> 8) ^ table[(crc ^ bytes[i]) & 0xff];
    return ~crc;
}

static double monotonic_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

// Splits http://A.B.C.D[:PORT]/PATH; 0 on success.
static int parse_url(const char *url, struct sockaddr_in *address, char *host, size_t host_size,
                     const char **path) {
    const char *prefix = "http://";
    if (strncmp(url, prefix, strlen(prefix)) != 0)
        return -1;
    const char *start = url + strlen(prefix);
    size_t length = strcspn(start, ":/");
    if (length == 0 || length >= host_size)
        return -1;
    memcpy(host, start, length);
    host[length] = '\0';
    memset(address, 0, sizeof *address);
    address->sin_family = AF_INET;
    if (inet_pton(AF_INET, host, &address->sin_addr) != 1)
        return -1;
    long port = 80;
    const char *rest = start + length;
    if (*rest == ':') {
        char *end;
        port = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || port < 1 || port > 65535)
            return -1;
        rest = end;
    }
    if (*rest != '/' && *rest != '\0')
        return -1;
    address->sin_port = htons((uint16_t)port);
    *path = *rest ? rest : "/";
    return 0;
}

int net_fetch(const char *url, int summary) {
    struct sockaddr_in address;
    char host[64];
    const char *path;
    if (parse_url(url, &address, host, sizeof host, &path) != 0) {
        printf("fetch: '%s' is not http://A.B.C.D[:PORT]/PATH (a numeric address: no DNS)\n", url);
        return 2;
    }
    double started = monotonic_seconds();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        printf("fetch: cannot connect to %s: %s\n", url, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    char request[512];
    int length = snprintf(request, sizeof request, "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
                          path, host);
    if (length <= 0 || (size_t)length >= sizeof request || write(fd, request, (size_t)length) != length) {
        printf("fetch: cannot send the request\n");
        close(fd);
        return 1;
    }
    // The header (up to the blank line) is kept to read the status; the body is printed or summed.
    static unsigned char buffer[65536];
    char header[4096];
    size_t header_length = 0, body_bytes = 0;
    int in_body = 0, status = 0;
    uint32_t crc = 0;
    for (;;) {
        ssize_t got = read(fd, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        unsigned char *body = buffer;
        size_t count = (size_t)got;
        if (!in_body) {
            size_t take = count < sizeof header - 1 - header_length ? count : sizeof header - 1 - header_length;
            memcpy(header + header_length, buffer, take);
            header_length += take;
            header[header_length] = '\0';
            char *end = strstr(header, "\r\n\r\n");
            if (!end) {
                if (header_length == sizeof header - 1)
                    break;
                continue;
            }
            size_t header_bytes = (size_t)(end + 4 - header);
            size_t before = header_length - take;  // header bytes from earlier reads
            body = buffer + (header_bytes - before);
            count -= header_bytes - before;
            in_body = 1;
            if (sscanf(header, "HTTP/%*d.%*d %d", &status) != 1)
                status = 0;
        }
        body_bytes += count;
        if (summary)
            crc = crc32_update(crc, body, count);
        else
            fwrite(body, 1, count, stdout);
    }
    close(fd);
    if (!in_body) {
        printf("fetch: no HTTP answer from %s\n", url);
        return 1;
    }
    fflush(stdout);
    if (summary) {
        double seconds = monotonic_seconds() - started;
        printf("fetch: %s: HTTP %d, %zu bytes, crc32 %08x, %.3f s (%.2f MB/s of guest time)\n", url, status,
               body_bytes, crc, seconds, seconds > 0 ? (double)body_bytes / seconds / 1e6 : 0.0);
    }
    return status == 200 ? 0 : 1;
}

int net_serve(long port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((uint16_t)port);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 1) != 0) {
        printf("serve: cannot listen on port %ld: %s\n", port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    printf("serve: listening on port %ld\n", port);
    fflush(stdout);
    struct sockaddr_in peer;
    socklen_t peer_length = sizeof peer;
    int client = accept(fd, (struct sockaddr *)&peer, &peer_length);
    close(fd);
    if (client < 0) {
        printf("serve: accept failed: %s\n", strerror(errno));
        return 1;
    }
    // Read the request up to its blank line (or 4 KiB), then answer.
    char request[4096];
    size_t length = 0;
    while (length < sizeof request - 1) {
        ssize_t got = read(client, request + length, sizeof request - 1 - length);
        if (got <= 0)
            break;
        length += (size_t)got;
        request[length] = '\0';
        if (strstr(request, "\r\n\r\n"))
            break;
    }
    request[length] = '\0';
    char answer[256];
    int answer_length = snprintf(answer, sizeof answer,
                                 "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
                                 strlen(SERVE_TEXT), SERVE_TEXT);
    ssize_t sent = write(client, answer, (size_t)answer_length);
    close(client);
    char peer_text[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &peer.sin_addr, peer_text, sizeof peer_text);
    request[strcspn(request, "\r\n")] = '\0';
    printf("serve: answered '%s' from %s\n", request, peer_text);
    return sent == answer_length ? 0 : 1;
}
