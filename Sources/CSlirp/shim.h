// libslirp from Debian's libslirp-dev. Its pkg-config file requires glib-2.0's development files, which
// the header does not use: the header is included by path. The library is not linked: RRNet loads it when a
// user network starts (SlirpLibrary), so that the processes that never use it do not load it.
#include <slirp/libslirp.h>
#include <poll.h>
#include <sys/epoll.h>
