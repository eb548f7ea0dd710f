// epoll and eventfd (Linux), which Swift's Glibc module does not include: HTTPCore's event loops.
#include <sys/epoll.h>
#include <sys/eventfd.h>
