// SPDX-License-Identifier: Apache-2.0
#include "bench_nl.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct nlbuf {
	struct nlmsghdr *nh;
	size_t cap;
};

static struct rtattr *attr_put(struct nlbuf *b, unsigned short type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(b->nh->nlmsg_len);

	if (off + RTA_SPACE(len) > b->cap)
		return NULL;
	struct rtattr *rta = (struct rtattr *)((char *)b->nh + off);
	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	b->nh->nlmsg_len = off + RTA_SPACE(len);
	return rta;
}

static int attr_str(struct nlbuf *b, unsigned short type, const char *s)
{
	return attr_put(b, type, s, strlen(s) + 1) ? 0 : -ENOSPC;
}

static void nest_end(struct nlbuf *b, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)b->nh + b->nh->nlmsg_len - (char *)nest);
}

/* Sends one request and waits for its ACK; returns the kernel's verdict. */
static int nl_transact(int nl, struct nlmsghdr *nh)
{
	static uint32_t seq;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	char reply[4096];

	nh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nh->nlmsg_seq = ++seq;
	if (sendto(nl, nh, nh->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(nl, reply, sizeof(reply), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (struct nlmsghdr *r = (struct nlmsghdr *)reply; NLMSG_OK(r, (size_t)n);
		     r = NLMSG_NEXT(r, n)) {
			if (r->nlmsg_seq != nh->nlmsg_seq || r->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = NLMSG_DATA(r);
			return e->error; /* 0 on success, -errno otherwise */
		}
	}
}

int bnl_open(void)
{
	int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (nl < 0)
		return -errno;
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	if (bind(nl, (struct sockaddr *)&local, sizeof(local)) < 0) {
		int err = -errno;
		close(nl);
		return err;
	}
	return nl;
}

int bnl_open_in(const char *netns_path)
{
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	int target = open(netns_path, O_RDONLY | O_CLOEXEC);
	if (target < 0) {
		int err = -errno;
		close(self);
		return err;
	}
	int nl = setns(target, CLONE_NEWNET) < 0 ? -errno : bnl_open();
	/* Going back must not fail silently: the rest of the program assumes the host netns. */
	if (setns(self, CLONE_NEWNET) < 0) {
		if (nl >= 0)
			close(nl);
		nl = -errno;
	}
	close(target);
	close(self);
	return nl;
}

int bnl_veth_create(int nl, const char *host_ifname, const char *peer_ifname, int netns_fd)
{
	union {
		struct nlmsghdr nh;
		char raw[1024];
	} msg;
	memset(&msg, 0, sizeof(msg));
	struct nlbuf b = { .nh = &msg.nh, .cap = sizeof(msg) };
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };

	msg.nh.nlmsg_type = RTM_NEWLINK;
	msg.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	msg.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifi));
	memcpy(NLMSG_DATA(&msg.nh), &ifi, sizeof(ifi));

	if (attr_str(&b, IFLA_IFNAME, host_ifname))
		return -ENOSPC;
	struct rtattr *linkinfo = attr_put(&b, IFLA_LINKINFO, NULL, 0);
	if (!linkinfo || attr_str(&b, IFLA_INFO_KIND, "veth"))
		return -ENOSPC;
	struct rtattr *data = attr_put(&b, IFLA_INFO_DATA, NULL, 0);
	/* VETH_INFO_PEER carries a whole ifinfomsg followed by the peer's own attributes. The
	 * peer stays down: the kernel refuses to open it before its partner is registered
	 * (ENOTCONN), and nothing here needs it up. */
	struct ifinfomsg peer_ifi = { .ifi_family = AF_UNSPEC };
	struct rtattr *peer = data ? attr_put(&b, VETH_INFO_PEER, &peer_ifi, sizeof(peer_ifi)) : NULL;
	if (!peer || attr_str(&b, IFLA_IFNAME, peer_ifname))
		return -ENOSPC;
	uint32_t fd = (uint32_t)netns_fd;
	if (!attr_put(&b, IFLA_NET_NS_FD, &fd, sizeof(fd)))
		return -ENOSPC;
	nest_end(&b, peer);
	nest_end(&b, data);
	nest_end(&b, linkinfo);
	return nl_transact(nl, &msg.nh);
}

int bnl_link_del(int nl, const char *ifname)
{
	union {
		struct nlmsghdr nh;
		char raw[256];
	} msg;
	memset(&msg, 0, sizeof(msg));
	struct nlbuf b = { .nh = &msg.nh, .cap = sizeof(msg) };
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };

	msg.nh.nlmsg_type = RTM_DELLINK;
	msg.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifi));
	memcpy(NLMSG_DATA(&msg.nh), &ifi, sizeof(ifi));
	if (attr_str(&b, IFLA_IFNAME, ifname))
		return -ENOSPC;
	return nl_transact(nl, &msg.nh);
}

int bns_create(const char *path)
{
	int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);

	int err = 0;
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0) {
		err = -errno;
		goto fail;
	}
	if (unshare(CLONE_NEWNET) < 0)
		err = -errno;
	else if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0)
		err = -errno;
	if (setns(self, CLONE_NEWNET) < 0 && !err)
		err = -errno;
	close(self);
	if (!err)
		return 0;
fail:
	umount2(path, MNT_DETACH);
	unlink(path);
	return err;
}

int bns_destroy(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	umount2(path, MNT_DETACH); /* EINVAL if it was never mounted: fine */
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}
