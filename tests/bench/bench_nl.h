/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Just enough rtnetlink and namespace plumbing for the endpoint benchmark: its own, so that
 * the baseline (pre-created veth pairs) and the clean-up never go through the library under
 * test. Every call returns 0 or a negative errno.
 */
#ifndef BENCH_NL_H
#define BENCH_NL_H

/* A NETLINK_ROUTE socket in the calling thread's current network namespace. */
int bnl_open(void);

/* The same, but bound to the namespace at netns_path (the socket stays there). */
int bnl_open_in(const char *netns_path);

/* One RTM_NEWLINK request: veth pair host_ifname <-> peer_ifname, the peer created directly
 * in the namespace open as netns_fd; the host end up, the peer down. */
int bnl_veth_create(int nl, const char *host_ifname, const char *peer_ifname, int netns_fd);

/* RTM_DELLINK by name; -ENODEV if there is no such link. */
int bnl_link_del(int nl, const char *ifname);

/* A new, empty network namespace bind-mounted at path (created, must not exist). The calling
 * thread returns to its own namespace before the call returns. */
int bns_create(const char *path);

/* Unmounts and removes a namespace made by bns_create(); missing is not an error. */
int bns_destroy(const char *path);

#endif
