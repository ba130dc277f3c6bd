// libslirp from Debian's libslirp-dev. Its pkg-config file requires glib-2.0's development files, which
// the header does not use: the header is included by path and the library linked by name instead.
#include <slirp/libslirp.h>
#include <poll.h>
#include <sys/epoll.h>
