/*
 * The fast path's device links: see fpdev.h.
 */
#include "fpdev.h"

#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_arp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"

/* Debian 12's uapi headers predate tcx (kernel 6.6): the value of enum bpf_attach_type. */
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#endif

/*
 * Device events are acted on this long after the last of a burst: a veth
 * pair, or many devices at once, makes one scan.
 */
#define FPDEV_SETTLE 0.05

/* A tcx link of the program: closing fd detaches it. */
struct fpdev_link {
	int fd;
	unsigned ifindex;
	char name[IF_NAMESIZE];
};

struct fpdev {
	struct ev_loop *loop;
	int prog_fd;
	int nl_fd; /* rtnetlink, link events; -1: devices follow at reloads only */
	ev_io nl;
	ev_timer nl_settle; /* a scan after a burst of events */
	struct fpdev_link devs[FPDEV_MAX];
	size_t n_devs;
	bool started; /* past the first attach: the log names each new device */
	char names[FPDEV_MAX * (IF_NAMESIZE + 1) + 1];
};

/* Up, not loopback, Ethernet framing (the program reads an Ethernet header). */
static bool device_usable(int sock, const char *name, const char **why)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
		*why = "flags unreadable";
		return false;
	}
	if (ifr.ifr_flags & IFF_LOOPBACK) {
		*why = "loopback (the firewall leaves it alone too)";
		return false;
	}
	if (!(ifr.ifr_flags & IFF_UP)) {
		*why = "down";
		return false;
	}
	if (ioctl(sock, SIOCGIFHWADDR, &ifr) < 0 || ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
		*why = "not an Ethernet device";
		return false;
	}
	return true;
}

static int tcx_attach(int prog_fd, unsigned ifindex)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts);

	return bpf_link_create(prog_fd, (int)ifindex, BPF_TCX_INGRESS, &opts);
}

/*
 * Attaches to every usable device not among devs[0..n); out (when given)
 * hears about each device. keep: the new links join devs, otherwise they are
 * closed at once (a trial). Returns the new number of links in devs.
 */
static size_t attach_all(int prog_fd, struct fpdev_link *devs, size_t n, size_t max, FILE *out,
                         bool keep)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	for (i = ifs; ifs && sock >= 0 && i->if_index != 0; i++) {
		const char *why = NULL;
		bool have = false;
		int fd;

		for (size_t k = 0; k < n && !have; k++)
			have = devs[k].ifindex == i->if_index;
		if (have)
			continue;
		if (!device_usable(sock, i->if_name, &why)) {
			if (out)
				fprintf(out, "fast path: device %s: skipped: %s\n", i->if_name,
				        why);
			continue;
		}
		if (n == max) {
			if (out)
				fprintf(out,
				        "fast path: device %s: skipped: more than %zu devices\n",
				        i->if_name, max);
			else
				log_warnx_ratelimited(
				    60, "fast path: device %s: not covered: more than %zu devices",
				    i->if_name, max);
			continue;
		}
		fd = tcx_attach(prog_fd, i->if_index);
		if (fd < 0) {
			int e = errno;

			if (out)
				fprintf(out, "fast path: device %s: tcx attach failed: %s%s\n",
				        i->if_name, strerror(e),
				        e == EINVAL ? " (tcx needs kernel >= 6.6)" : "");
			else
				log_warnx("fast path: device %s: tcx attach failed: %s", i->if_name,
				          strerror(e));
			continue;
		}
		if (out)
			fprintf(out, "fast path: device %s: tcx ingress attach OK\n", i->if_name);
		if (!keep) {
			close(fd);
			continue;
		}
		devs[n].fd = fd;
		devs[n].ifindex = i->if_index;
		snprintf(devs[n].name, sizeof(devs[n].name), "%s", i->if_name);
		n++;
	}
	if (sock >= 0)
		close(sock);
	if (ifs)
		if_freenameindex(ifs);
	return n;
}

/*
 * Whether d's device is still there: the kernel detaches a tcx link when its
 * device goes (its info then names ifindex 0), but the link itself lives on
 * as long as its fd, holding one of the FPDEV_MAX places.
 */
static bool link_alive(const struct fpdev_link *d)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	char name[IF_NAMESIZE];

	memset(&info, 0, sizeof(info));
	/* tcx.ifindex (kernel >= 6.6) is the union's first field, as xdp.ifindex, which
	 * Debian 12's uapi headers know */
	if (bpf_obj_get_info_by_fd(d->fd, &info, &len) == 0 && info.xdp.ifindex == 0)
		return false;
	return if_indextoname(d->ifindex, name) != NULL;
}

/* Closes the links of devices that went away. */
static void release_gone(struct fpdev *f)
{
	size_t k = 0, n = f->n_devs;

	for (size_t i = 0; i < n; i++) {
		if (link_alive(&f->devs[i])) {
			f->devs[k++] = f->devs[i];
			continue;
		}
		log_info("fast path: device %s (index %u) is gone: its link released",
		         f->devs[i].name, f->devs[i].ifindex);
		close(f->devs[i].fd);
	}
	f->n_devs = k;
}

/* Attaches to the usable devices not covered yet; the log names the new ones. */
static void attach_new(struct fpdev *f)
{
	size_t before = f->n_devs, used = 0;

	f->n_devs = attach_all(f->prog_fd, f->devs, f->n_devs, FPDEV_MAX, NULL, true);
	f->names[0] = '\0';
	for (size_t i = 0; i < f->n_devs; i++) {
		used += (size_t)snprintf(f->names + used, sizeof(f->names) - used, "%s%s",
		                         i ? " " : "", f->devs[i].name);
		if (used >= sizeof(f->names))
			used = sizeof(f->names) - 1;
	}
	for (size_t i = before; f->started && i < f->n_devs; i++)
		log_info("fast path: TC ingress program attached to %s too", f->devs[i].name);
}

/* ---- device events ---- */

void fpdev_scan(struct fpdev *f)
{
	release_gone(f);
	attach_new(f);
}

static void on_settle(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fpdev *f = w->data;

	(void)loop;
	(void)revents;
	fpdev_scan(f);
}

/* Any link event (new, changed, gone) makes a scan; so does a lost one (ENOBUFS). */
static void on_nl(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fpdev *f = w->data;
	char buf[8192];
	bool any = false;

	(void)revents;
	for (;;) {
		ssize_t n = recv(f->nl_fd, buf, sizeof(buf), 0);

		if (n > 0 || (n < 0 && errno == ENOBUFS)) {
			any = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (!any)
		return;
	ev_timer_stop(loop, &f->nl_settle);
	ev_timer_set(&f->nl_settle, FPDEV_SETTLE, 0.);
	ev_timer_start(loop, &f->nl_settle);
}

/* Listens to link events; without them (logged) devices follow at reloads only. */
static void events_start(struct fpdev *f)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};

	f->nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (f->nl_fd < 0 || bind(f->nl_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_warn("fast path: device events (rtnetlink): devices that come or go are "
		         "followed at reloads only");
		if (f->nl_fd >= 0)
			close(f->nl_fd);
		f->nl_fd = -1;
		return;
	}
	ev_io_init(&f->nl, on_nl, f->nl_fd, EV_READ);
	f->nl.data = f;
	ev_io_start(f->loop, &f->nl);
	ev_unref(f->loop); /* the loop ends when everything else has */
}

static void events_stop(struct fpdev *f)
{
	if (ev_is_active(&f->nl)) {
		ev_ref(f->loop);
		ev_io_stop(f->loop, &f->nl);
	}
	ev_timer_stop(f->loop, &f->nl_settle);
	if (f->nl_fd >= 0)
		close(f->nl_fd);
	f->nl_fd = -1;
}

struct fpdev *fpdev_new(struct ev_loop *loop, int prog_fd)
{
	struct fpdev *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->loop = loop;
	f->prog_fd = prog_fd;
	f->nl_fd = -1;
	ev_init(&f->nl, on_nl);
	ev_init(&f->nl_settle, on_settle);
	f->nl_settle.data = f;
	/* events first: a device that comes during the first scan is not missed */
	events_start(f);
	attach_new(f);
	f->started = true;
	return f;
}

void fpdev_free(struct fpdev *f)
{
	if (!f)
		return;
	events_stop(f);
	for (size_t i = 0; i < f->n_devs; i++)
		close(f->devs[i].fd);
	free(f);
}

size_t fpdev_count(const struct fpdev *f)
{
	return f ? f->n_devs : 0;
}

const char *fpdev_names(const struct fpdev *f)
{
	return f ? f->names : "";
}

void fpdev_report(FILE *out, int prog_fd)
{
	struct fpdev_link devs[FPDEV_MAX];

	(void)attach_all(prog_fd, devs, 0, FPDEV_MAX, out, false);
}
