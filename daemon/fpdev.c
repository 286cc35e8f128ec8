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
#include <linux/if_link.h>
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

/* A link of the program: closing fd detaches it. */
struct fpdev_link {
	int fd;
	unsigned ifindex;
	bool generic; /* XDP without the driver's support */
	char name[IF_NAMESIZE];
};

/* What to attach, and where. */
struct fpdev_spec {
	enum fpdev_kind kind;
	int prog_fd;
	char only[FPDEV_MAX][CONF_IFNAME_MAX];
	size_t n_only;
};

struct fpdev {
	struct ev_loop *loop;
	struct fpdev_spec spec;
	int nl_fd; /* rtnetlink, link events; -1: devices follow at reloads only */
	ev_io nl;
	ev_timer nl_settle; /* a scan after a burst of events */
	struct fpdev_link devs[FPDEV_MAX];
	size_t n_devs;
	bool started; /* past the first attach: the log names each new device */
	char names[FPDEV_MAX * (IF_NAMESIZE + sizeof(" (generic)")) + 1];
};

/* The log's and -t's prefix. */
static const char *who(enum fpdev_kind kind)
{
	return kind == FPDEV_XDP ? "xdp" : "fast path";
}

static void spec_only(struct fpdev_spec *s, const char (*only)[CONF_IFNAME_MAX], size_t n_only)
{
	s->n_only = n_only < FPDEV_MAX ? n_only : FPDEV_MAX;
	for (size_t i = 0; i < s->n_only; i++)
		snprintf(s->only[i], sizeof(s->only[i]), "%s", only[i]);
}

/* Allowed by the list of devices (an empty list allows every device). */
static bool spec_allows(const struct fpdev_spec *s, const char *name)
{
	for (size_t i = 0; i < s->n_only; i++)
		if (strcmp(s->only[i], name) == 0)
			return true;
	return s->n_only == 0;
}

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

static int xdp_attach(int prog_fd, unsigned ifindex, bool generic)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts,
	            .flags = generic ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);

	return bpf_link_create(prog_fd, (int)ifindex, BPF_XDP, &opts);
}

/*
 * A link of s's program on device ifindex, or -1 with errno set. XDP:
 * native first; where the driver has no XDP of its own (EOPNOTSUPP), generic,
 * said in *generic.
 */
static int link_make(const struct fpdev_spec *s, unsigned ifindex, bool *generic)
{
	int fd;

	*generic = false;
	if (s->kind == FPDEV_TCX)
		return tcx_attach(s->prog_fd, ifindex);
	fd = xdp_attach(s->prog_fd, ifindex, false);
	if (fd >= 0 || errno != EOPNOTSUPP)
		return fd;
	*generic = true;
	return xdp_attach(s->prog_fd, ifindex, true);
}

static const char *attach_hint(enum fpdev_kind kind, int e)
{
	if (kind == FPDEV_TCX)
		return e == EINVAL ? " (tcx needs kernel >= 6.6)" : "";
	return e == EBUSY || e == EEXIST
	           ? " (another XDP program is attached there, a running synguardd's perhaps)"
	           : "";
}

/*
 * Attaches to every usable device not among devs[0..n); out (when given)
 * hears about each device. keep: the new links join devs, otherwise they are
 * closed at once (a trial). Returns the new number of links in devs; *tried
 * (when given) the number of devices attached to, kept or not.
 */
static size_t attach_all(const struct fpdev_spec *s, struct fpdev_link *devs, size_t n, size_t max,
                         FILE *out, bool keep, size_t *tried)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	const char *w = who(s->kind);

	for (i = ifs; ifs && sock >= 0 && i->if_index != 0; i++) {
		const char *why = NULL;
		bool have = false, generic;
		int fd;

		for (size_t k = 0; k < n && !have; k++)
			have = devs[k].ifindex == i->if_index;
		if (have)
			continue;
		if (!spec_allows(s, i->if_name)) {
			if (out)
				fprintf(out, "%s: device %s: skipped: not in daemon.devices\n", w,
				        i->if_name);
			continue;
		}
		if (!device_usable(sock, i->if_name, &why)) {
			if (out)
				fprintf(out, "%s: device %s: skipped: %s\n", w, i->if_name, why);
			continue;
		}
		if (n == max) {
			if (out)
				fprintf(out, "%s: device %s: skipped: more than %zu devices\n", w,
				        i->if_name, max);
			else
				log_warnx_ratelimited(
				    60, "%s: device %s: not covered: more than %zu devices", w,
				    i->if_name, max);
			continue;
		}
		fd = link_make(s, i->if_index, &generic);
		if (fd < 0) {
			int e = errno;

			if (out)
				fprintf(out, "%s: device %s: %s attach failed: %s%s\n", w,
				        i->if_name, s->kind == FPDEV_TCX ? "tcx" : "XDP",
				        strerror(e), attach_hint(s->kind, e));
			else
				log_warnx("%s: device %s: %s attach failed: %s%s", w, i->if_name,
				          s->kind == FPDEV_TCX ? "tcx" : "XDP", strerror(e),
				          attach_hint(s->kind, e));
			continue;
		}
		if (tried)
			(*tried)++;
		if (out)
			fprintf(out, "%s: device %s: %s attach OK\n", w, i->if_name,
			        s->kind == FPDEV_TCX ? "tcx ingress"
			        : generic            ? "XDP generic (the driver has no native XDP)"
			                             : "XDP native");
		else if (generic)
			log_warnx_ratelimited(
			    60,
			    "xdp: device %s: its driver has no native XDP: generic "
			    "XDP, at a higher cost per packet",
			    i->if_name);
		if (!keep) {
			close(fd);
			continue;
		}
		devs[n].fd = fd;
		devs[n].ifindex = i->if_index;
		devs[n].generic = generic;
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
 * Whether d's device is still there: the kernel detaches a link when its
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

/* Closes the links of devices that went away, or that the list no longer allows. */
static void release_gone(struct fpdev *f)
{
	size_t k = 0, n = f->n_devs;

	for (size_t i = 0; i < n; i++) {
		bool alive = link_alive(&f->devs[i]);

		if (alive && spec_allows(&f->spec, f->devs[i].name)) {
			f->devs[k++] = f->devs[i];
			continue;
		}
		if (alive)
			log_info("%s: device %s is no longer in daemon.devices: its link released",
			         who(f->spec.kind), f->devs[i].name);
		else
			log_info("%s: device %s (index %u) is gone: its link released",
			         who(f->spec.kind), f->devs[i].name, f->devs[i].ifindex);
		close(f->devs[i].fd);
	}
	f->n_devs = k;
}

/* Attaches to the usable devices not covered yet; the log names the new ones. */
static void attach_new(struct fpdev *f)
{
	size_t before = f->n_devs, used = 0;

	f->n_devs = attach_all(&f->spec, f->devs, f->n_devs, FPDEV_MAX, NULL, true, NULL);
	f->names[0] = '\0';
	for (size_t i = 0; i < f->n_devs; i++) {
		used += (size_t)snprintf(f->names + used, sizeof(f->names) - used, "%s%s%s",
		                         i ? " " : "", f->devs[i].name,
		                         f->devs[i].generic ? " (generic)" : "");
		if (used >= sizeof(f->names))
			used = sizeof(f->names) - 1;
	}
	for (size_t i = before; f->started && i < f->n_devs; i++)
		log_info("%s: %s program attached to %s too", who(f->spec.kind),
		         f->spec.kind == FPDEV_TCX ? "TC ingress" : "XDP", f->devs[i].name);
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
		log_warn("%s: device events (rtnetlink): devices that come or go are "
		         "followed at reloads only",
		         who(f->spec.kind));
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

struct fpdev *fpdev_new(struct ev_loop *loop, enum fpdev_kind kind, int prog_fd,
                        const char (*only)[CONF_IFNAME_MAX], size_t n_only)
{
	struct fpdev *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->loop = loop;
	f->spec.kind = kind;
	f->spec.prog_fd = prog_fd;
	spec_only(&f->spec, only, n_only);
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

void fpdev_set_devices(struct fpdev *f, const char (*only)[CONF_IFNAME_MAX], size_t n_only)
{
	if (!f)
		return;
	spec_only(&f->spec, only, n_only);
	fpdev_scan(f);
}

size_t fpdev_report(FILE *out, enum fpdev_kind kind, int prog_fd,
                    const char (*only)[CONF_IFNAME_MAX], size_t n_only)
{
	struct fpdev_spec s = {.kind = kind, .prog_fd = prog_fd};
	struct fpdev_link devs[FPDEV_MAX];
	size_t tried = 0;

	spec_only(&s, only, n_only);
	(void)attach_all(&s, devs, 0, FPDEV_MAX, out, false, &tried);
	return tried;
}
