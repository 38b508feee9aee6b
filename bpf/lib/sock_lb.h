/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Socket-level load balancing (cgroup sock_addr programs). Placeholder until the service
 * datapath lands: every hook lets the call through unchanged. Included once. */
#ifndef MS_BPF_SOCK_LB_H
#define MS_BPF_SOCK_LB_H

#include "common.h"

SEC("cgroup/connect4") int ms_sock_connect4(struct bpf_sock_addr *ctx) { return 1; }
SEC("cgroup/connect6") int ms_sock_connect6(struct bpf_sock_addr *ctx) { return 1; }
SEC("cgroup/sendmsg4") int ms_sock_sendmsg4(struct bpf_sock_addr *ctx) { return 1; }
SEC("cgroup/sendmsg6") int ms_sock_sendmsg6(struct bpf_sock_addr *ctx) { return 1; }
SEC("cgroup/recvmsg4") int ms_sock_recvmsg4(struct bpf_sock_addr *ctx) { return 1; }
SEC("cgroup/recvmsg6") int ms_sock_recvmsg6(struct bpf_sock_addr *ctx) { return 1; }
SEC("cgroup/getpeername4") int ms_sock_getpeername4(struct bpf_sock_addr *ctx) { return 1; }
SEC("cgroup/getpeername6") int ms_sock_getpeername6(struct bpf_sock_addr *ctx) { return 1; }

#endif
