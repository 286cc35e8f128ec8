#!/usr/bin/python3
"""Sampling and reporting for tests/lab/bench.sh.

  benchreport.py sample --out FILE --stop FILE --max-seconds S [--iface IF] [--pidfile NAME=PATH]...
      Runs in the attacker's namespace: every --interval seconds appends one
      JSON line with the wall time, the packets received on IF (the answers
      the defense sent to spoofed sources), the machine's /proc/stat CPU
      line and the CPU ticks of the named processes.

  benchreport.py report DIR
      Reads what bench.sh left in DIR (scenario.json, one directory per
      defense) and writes DIR/results.json, DIR/table.txt, DIR/chart.png
      (gnuplot), and prints the table.

  benchreport.py targets [--subject S] [--peer P] [--syn DIR] [--ack DIR] [--latency DIR]
      Prints the XDP datapath's target lines (issue "XDP datapath") from bench.sh
      runs of one perf.sh run: a max-rate SYN flood, a max-rate ACK flood and the
      default scenario, each with S (synguard-xdp) and P (synproxy), the first
      two with the generator-only phase ("generator").
"""
import argparse
import json
import math
import os
import re
import subprocess
import statistics
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
DEFENSE_LABEL = {
    "none": "no defense",
    "syncookies": "syncookies",
    "synproxy": "SYNPROXY",
    "synguard": "synguard",
    "synguard-local": "synguard (local handoff)",
    "synguard-xdp": "synguard (XDP datapath)",
    "generator": "generator only (XDP drop)",
}
# synguardd runs for these: its counters, RSS and NFQUEUE drops are read
SYNGUARDD_DEFENSES = ("synguard", "synguard-local", "synguard-xdp")
# each gets its ratios to every other defense of the run
SUBJECTS = ("synguard", "synguard-local", "synguard-xdp")
# the XDP program's counters (synguardctl stats --json: xdp), summed over its slots
XDP_KEYS = ("syn_answered", "syn_passed", "ack_valid", "ack_invalid", "ack_expired",
            "flow_passed", "passed_unparsed", "passed_csum", "passed_noroom")
SG_KEYS = ("syn_received", "synack_sent", "ack_valid", "ack_invalid", "handoffs",
           "handoff_failed", "repair_failed")


# ---------------------------------------------------------------- sampling


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def proc_ticks(pid):
    """utime + stime of a process, in clock ticks, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None


def cpu_line():
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def cmd_sample(a):
    pidfiles = dict(p.split("=", 1) for p in a.pidfile)
    pids = {}
    deadline = time.monotonic() + a.max_seconds
    with open(a.out, "a") as out:
        while time.monotonic() < deadline and not os.path.exists(a.stop):
            for name, path in pidfiles.items():
                if name not in pids:
                    pid = read_int(path)
                    if pid:
                        pids[name] = pid
            rec = {
                "t": time.time(),
                "rx": read_int("/sys/class/net/%s/statistics/rx_packets" % a.iface),
                "cpu": cpu_line(),
                "proc": {n: proc_ticks(p) for n, p in pids.items()},
            }
            out.write(json.dumps(rec) + "\n")
            out.flush()
            time.sleep(a.interval)


# ---------------------------------------------------------------- parsing snapshots


def slurp(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def ipt_counts(text):
    """Packet counts of an `iptables -nvxL CHAIN` listing, by rule, in order."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)\s+(\d+)\s+(\S+)", line)
        if m:
            rows.append((int(m.group(1)), m.group(3), line))
    return rows


def nft_counts(text):
    """Packet counts of an `nft list table` listing, by rule comment."""
    return {m.group(2): int(m.group(1)) for m in
            re.finditer(r'counter packets (\d+) bytes \d+ comment "([^"]+)"', text)}


def netstat(text):
    """/proc/net/netstat or /proc/net/snmp as {Prefix: {Key: value}}."""
    out, lines = {}, text.splitlines()
    for head, vals in zip(lines[::2], lines[1::2]):
        p, keys = head.split(":", 1)
        _, nums = vals.split(":", 1)
        out[p] = dict(zip(keys.split(), (int(x) for x in nums.split())))
    return out


def nfq_drops(text):
    """Packets NFQUEUE dropped: queue full plus failed deliveries to the reader."""
    total = 0
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 7:
            total += int(f[5]) + int(f[6])
    return total


def synproxy_stat(text):
    """/proc/net/stat/synproxy (one hex row per CPU) summed by column."""
    lines = text.split("\n")
    if not lines or not lines[0].strip():
        return {}
    keys = lines[0].split()
    out = dict.fromkeys(keys, 0)
    for line in lines[1:]:
        vals = line.split()
        if len(vals) == len(keys):
            for k, v in zip(keys, vals):
                out[k] += int(v, 16)
    return out


def cpu_of(cpu):
    """(busy, softirq, total) ticks of a /proc/stat cpu line."""
    total = sum(cpu[:8])
    idle = cpu[3] + cpu[4]
    return total - idle, cpu[6], total


def snapshot(d):
    s = {"time": float(slurp(os.path.join(d, "time.txt"), "0") or 0)}
    s["cpu"] = [int(x) for x in slurp(os.path.join(d, "stat.txt")).split()[1:9]] or None
    s["synguardd_ticks"] = None
    st = slurp(os.path.join(d, "synguardd.stat"))
    if st:
        f = st.rsplit(")", 1)[1].split()
        s["synguardd_ticks"] = int(f[11]) + int(f[12])
    att = nft_counts(slurp(os.path.join(d, "att_sink.txt")))
    # sgxdpsink's counts (answers sent as XDP frames, dropped at the attacker's XDP hook)
    xs = dict(l.split()[:2] for l in slurp(os.path.join(d, "att_xdpsink.txt")).splitlines()
              if len(l.split()) == 2 and l.split()[1].isdigit())
    s["att_synack"] = att.get("sg-synack", 0) + int(xs.get("synack", 0))
    s["att_rst"] = att.get("sg-rst", 0) + int(xs.get("rst", 0))
    s["att_rx"] = int(slurp(os.path.join(d, "att_rx.txt"), "0") or 0)
    ns = netstat(slurp(os.path.join(d, "srv_netstat.txt")))
    sn = netstat(slurp(os.path.join(d, "srv_snmp.txt")))
    s["tcpext"] = ns.get("TcpExt", {})
    s["tcp"] = sn.get("Tcp", {})
    filt = ipt_counts(slurp(os.path.join(d, "srv_filter4.txt"))) + ipt_counts(
        slurp(os.path.join(d, "srv_filter6.txt")))
    s["synproxy_invalid_drop"] = sum(n for n, tgt, _ in filt if tgt == "DROP")
    s["synproxy_passed"] = sum(n for n, tgt, _ in filt if tgt == "SYNPROXY")
    s["synproxy"] = synproxy_stat(slurp(os.path.join(d, "srv_synproxy.txt")))
    s["nfq_dropped"] = nfq_drops(slurp(os.path.join(d, "srv_nfq.txt")))
    try:
        doc = json.loads(slurp(os.path.join(d, "synguard.json"), "{}"))
    except ValueError:
        doc = {}
    s["synguard"] = doc.get("total", {})
    x = doc.get("xdp")
    s["xdp"] = None
    if x:
        rows = list(x.get("listeners", {}).values()) + [x.get("unmatched", {})]
        s["xdp"] = {k: sum(r.get(k, 0) for r in rows) for k in XDP_KEYS}
    return s


# ---------------------------------------------------------------- one defense


def nearest_rank(v, p):
    """Percentile as sgload computes it (nearest rank over sorted values)."""
    if not v:
        return None
    k = math.ceil(p / 100.0 * len(v))
    return v[max(k, 1) - 1]


def flood_window_summary(ddir, load, meta):
    """sgload's per-connection records, summarized over the flood as it actually ran.

    sgload's own window is planned before the flood starts; the flood starts a
    little later (after the counters' snapshot). Returns None without the records.
    """
    t0 = load.get("t0_realtime")
    f0, f1 = meta.get("flood_start"), meta.get("flood_end")
    text = slurp(os.path.join(ddir, "connections.csv"))
    if t0 is None or f0 is None or f1 is None or not text:
        return None
    lo, hi = f0 - t0, f1 - t0
    attempts, ok, retrans, lat, results = 0, 0, 0, [], {}
    for line in text.splitlines()[1:]:
        start, connect_ms, _, result = line.split(",")
        if not lo <= float(start) < hi:
            continue
        attempts += 1
        ok += result == "ok"
        results[result] = results.get(result, 0) + 1
        if float(connect_ms) >= 0:
            lat.append(float(connect_ms))
            retrans += float(connect_ms) > 900
    lat.sort()
    return {
        "window": [round(lo, 3), round(hi, 3)],
        "attempts": attempts,
        "ok": ok,
        "success_pct": 100.0 * ok / attempts if attempts else None,
        "connected": len(lat),
        "connect_retransmitted": retrans,
        "connect_ms": {"p50": nearest_rank(lat, 50), "p90": nearest_rank(lat, 90),
                       "p99": nearest_rank(lat, 99), "p99.9": nearest_rank(lat, 99.9),
                       "max": lat[-1] if lat else None},
        "results": results,
    }


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def defense_result(ddir, name, scen):
    meta = json.loads(slurp(os.path.join(ddir, "meta.json"), "{}"))
    load = json.loads(slurp(os.path.join(ddir, "load.json"), "{}"))
    b, e = snapshot(os.path.join(ddir, "before")), snapshot(os.path.join(ddir, "after"))
    secs = max(e["time"] - b["time"], 1e-3)
    r = {"defense": name, "flood_seconds": round(secs, 3), "setup": meta.get("setup", "")}
    w = flood_window_summary(ddir, load, meta) or load.get("window_summary", {})
    r["legit"] = {
        "attempts": w.get("attempts", 0),
        "ok": w.get("ok", 0),
        "success_pct": w.get("success_pct"),
        "connect_ms": w.get("connect_ms", {}),
        "connect_retransmitted": w.get("connect_retransmitted", 0),
        "failures": {k: v for k, v in w.get("results", {}).items() if k != "ok" and v},
        "window_s": w.get("window", load.get("window")),
    }
    r["legit_all"] = load.get("all", {})
    r["flood"] = {"sent": meta.get("flood_sent"), "log": meta.get("flood_log", "")}
    if r["flood"]["sent"] is not None:
        r["flood"]["pps"] = round(r["flood"]["sent"] / secs)
    synacks = e["att_synack"] - b["att_synack"]
    r["synacks"] = synacks
    r["synack_per_s"] = round(synacks / secs)
    r["rst_per_s"] = round((e["att_rst"] - b["att_rst"]) / secs)
    r["attacker_rx_per_s"] = round((e["att_rx"] - b["att_rx"]) / secs)
    cpu = None
    if b["cpu"] and e["cpu"]:
        bb, bs, bt = cpu_of(b["cpu"])
        eb, es, et = cpu_of(e["cpu"])
        # ticks over all CPUs -> cores busy on average
        span = (et - bt) / NCPU
        cpu = {
            "machine_cores": round((eb - bb) / span, 3) if span else None,
            "softirq_cores": round((es - bs) / span, 3) if span else None,
            "system_cores": round((e["cpu"][2] - b["cpu"][2]) / span, 3) if span else None,
            "ncpu": NCPU,
        }
        busy_s = (eb - bb) / TICK
        cpu["machine_us_per_synack"] = round(busy_s * 1e6 / synacks, 3) if synacks else None
        # per flood packet sent: an ACK flood's dropped packets, the generator's own cost
        sent = r["flood"]["sent"]
        cpu["machine_us_per_flood_pkt"] = round(busy_s * 1e6 / sent, 3) if sent else None
    if b["synguardd_ticks"] is not None and e["synguardd_ticks"] is not None and cpu:
        cpu["synguardd_cores"] = round((e["synguardd_ticks"] - b["synguardd_ticks"]) / TICK / secs, 3)
    r["cpu"] = cpu
    if cpu is not None:
        cpu["machine_cores_before_flood"] = baseline_cores(ddir, meta, float(scen["PRE"]))
    r["synguardd_peak_rss_kb"] = meta.get("vmhwm_kb")
    # invalid ACKs each defense dropped (where it counts them)
    bad = None
    if name in SYNGUARDD_DEFENSES:
        bad = e["synguard"].get("ack_invalid", 0) - b["synguard"].get("ack_invalid", 0)
        # the local handoff's own counters (the TC path) are kept whatever their names
        keys = SG_KEYS if name in ("synguard", "synguard-xdp") else sorted(
            k for k, v in e["synguard"].items() if isinstance(v, (int, float)))
        r["synguard"] = {k: e["synguard"].get(k, 0) - b["synguard"].get(k, 0) for k in keys}
        if e.get("xdp") is not None:
            # already summed into synguard's total counters above (syn_answered in
            # synack_sent, ack_invalid in ack_invalid): kept apart to show the split
            bx = b.get("xdp") or {}
            r["xdp"] = {k: e["xdp"].get(k, 0) - bx.get(k, 0) for k in XDP_KEYS}
    elif name == "synproxy":
        bad = e["synproxy"].get("cookie_invalid", 0) - b["synproxy"].get("cookie_invalid", 0)
        r["synproxy"] = {k: e["synproxy"].get(k, 0) - b["synproxy"].get(k, 0)
                         for k in ("syn_received", "cookie_invalid", "cookie_valid",
                                   "cookie_retrans")}
        r["synproxy"]["conntrack_invalid_dropped"] = (e["synproxy_invalid_drop"] -
                                                      b["synproxy_invalid_drop"])
    elif name == "syncookies":
        bad = e["tcpext"].get("SyncookiesFailed", 0) - b["tcpext"].get("SyncookiesFailed", 0)
    r["invalid_acks_dropped"] = bad
    r["nfqueue_dropped"] = ((e["nfq_dropped"] - b["nfq_dropped"]) if name in SYNGUARDD_DEFENSES
                            else None)
    r["kernel"] = {k: e["tcpext"].get(k, 0) - b["tcpext"].get(k, 0)
                   for k in ("SyncookiesSent", "SyncookiesRecv", "SyncookiesFailed",
                             "ListenOverflows", "ListenDrops", "TCPReqQFullDrop",
                             "TCPReqQFullDoCookies")}
    r["kernel"]["OutRsts"] = e["tcp"].get("OutRsts", 0) - b["tcp"].get("OutRsts", 0)
    r["series"] = series(ddir, load, meta)
    return r


def own_costs(res):
    """Each defense's own cost: its machine CPU per SYN-ACK (and per flood packet)
    minus the generator-only phase's CPU per packet sent, when that phase ran."""
    gen = next((r for r in res if r["defense"] == "generator"), None)
    g = ((gen or {}).get("cpu") or {}).get("machine_us_per_flood_pkt")
    for r in res:
        c = r["cpu"] or {}
        if g is None or r["defense"] == "generator":
            r["own_us_per_synack"] = r["own_us_per_flood_pkt"] = None
            continue
        a, p = c.get("machine_us_per_synack"), c.get("machine_us_per_flood_pkt")
        r["own_us_per_synack"] = round(a - g, 3) if a is not None else None
        r["own_us_per_flood_pkt"] = round(p - g, 3) if p is not None else None


def load_samples(ddir):
    out = []
    for line in slurp(os.path.join(ddir, "samples.jsonl")).splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def baseline_cores(ddir, meta, pre):
    """Machine cores busy before the flood (legit load only): what else ran on the machine."""
    t0 = meta.get("load_start")
    if t0 is None:
        return None
    s = [x for x in load_samples(ddir) if t0 + 0.5 <= x["t"] <= t0 + pre]
    if len(s) < 2:
        return None
    b0, _, t_0 = cpu_of(s[0]["cpu"])
    b1, _, t_1 = cpu_of(s[-1]["cpu"])
    return round((b1 - b0) / (t_1 - t_0) * NCPU, 3) if t_1 > t_0 else None


def series(ddir, load, meta):
    """Per second since the load started: legit success and latency, answers/s at the attacker."""
    out = {str(s["t"]): {"success_pct": s.get("success_pct"), "p50": s.get("p50"),
                         "p99": s.get("p99"), "attempts": s.get("attempts")}
           for s in load.get("series", [])}
    t0 = meta.get("load_start")
    samples = load_samples(ddir)
    if t0 is not None:
        for p, q in zip(samples, samples[1:]):
            if p.get("rx") is None or q.get("rx") is None:
                continue
            mid = (p["t"] + q["t"]) / 2 - t0
            sec = str(int(math.floor(mid)))
            dt = q["t"] - p["t"]
            if sec in out and dt > 0:
                o = out[sec]
                o.setdefault("_rx", []).append((q["rx"] - p["rx"]) / dt)
                bp, _, tp = cpu_of(p["cpu"])
                bq, _, tq = cpu_of(q["cpu"])
                if tq > tp:
                    o.setdefault("_cpu", []).append((bq - bp) / (tq - tp) * NCPU)
        for o in out.values():
            rx = o.pop("_rx", None)
            c = o.pop("_cpu", None)
            o["answers_per_s"] = round(sum(rx) / len(rx)) if rx else None
            o["machine_cores"] = round(sum(c) / len(c), 3) if c else None
    return [dict(t=int(k), **v) for k, v in sorted(out.items(), key=lambda kv: int(kv[0]))]


# ---------------------------------------------------------------- report


def fmt(v, spec="%.1f", none="-"):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return none
    return spec % v


def fmt_ratio(v):
    if v is None:
        return "n/a"
    if v >= 100:
        return "%.0fx" % v
    if 0 < v < 0.01:
        return "%.4fx" % v
    return "%.2fx" % v


def table(res, scen):
    lines = []
    s = scen
    attack = s["ATTACK"]
    lines.append("scenario %s: %s" % (s["NAME"], s.get("DESCRIPTION", "")))
    if s.get("GENERATOR") == "xdp":
        rate = "the XDP generator's full speed (at most %s packets) for" % (
            int(s["RATE"]) * int(s["DURATION"]))
    else:
        rate = "%s pps for" % s["RATE"]
    lines.append("  attack %s, IPv%s, %s %s s; legit %s new connections/s x %s requests"
                 " (connect timeout %s s)" % (attack, s["FAMILY"], rate, s["DURATION"],
                                              s["LEGIT_CPS"], s["LEGIT_REQUESTS"],
                                              s["LEGIT_CONNECT_TIMEOUT"]))
    lines.append("  legit figures count the connections started during the flood; CPU is the"
                 " whole %d-CPU machine (generator and clients included)" % NCPU)
    lines.append("")
    # "defense" is 11 wide unless a longer name (synguard-local) is in the run
    w = max([11] + [len(r["defense"]) for r in res])
    hdr = ("%-*s %8s %8s %8s %8s %9s %9s %10s %7s %7s %8s %7s %8s %7s %8s" %
           (w, "defense", "legit ok", "p50 ms", "p99 ms", "p99.9 ms", "flood pps", "SYN-ACK/s",
            "bad ACK", "CPU", "softirq", "us/SYNACK", "us/pkt", "sgd CPU", "RSS MB", "NFQ drop"))
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for r in res:
        L, c = r["legit"], r["cpu"] or {}
        lat = L["connect_ms"]
        lines.append("%-*s %7s%% %8s %8s %8s %9s %9s %10s %7s %7s %8s %7s %8s %7s %8s" % (
            w, r["defense"], fmt(L["success_pct"]), fmt(lat.get("p50"), "%.2f"),
            fmt(lat.get("p99"), "%.1f"), fmt(lat.get("p99.9"), "%.1f"),
            fmt(r["flood"].get("pps"), "%d"), fmt(r["synack_per_s"], "%d"),
            fmt(r["invalid_acks_dropped"], "%d"), fmt(c.get("machine_cores"), "%.2f"),
            fmt(c.get("softirq_cores"), "%.2f"), fmt(c.get("machine_us_per_synack"), "%.2f"),
            fmt(c.get("machine_us_per_flood_pkt"), "%.2f"), fmt(c.get("synguardd_cores"), "%.2f"),
            fmt(r["synguardd_peak_rss_kb"] / 1024 if r["synguardd_peak_rss_kb"] else None, "%.1f"),
            fmt(r["nfqueue_dropped"], "%d")))
    lines.append("")
    lines.append("  CPU, softirq, sgd CPU: cores busy on average during the flood (of %d);"
                 " us/SYNACK: machine CPU microseconds per SYN-ACK seen by the attacker;"
                 " us/pkt: per flood packet sent" % NCPU)
    lines.append("  bad ACK: invalid handshake ACKs dropped: synguard ack_invalid; SYNPROXY"
                 " cookie_invalid; syncookies TcpExt SyncookiesFailed (checked only while the"
                 " SYN queue overflows; otherwise the kernel answers a stray ACK with a RST);"
                 " synguard-xdp's ack_invalid includes the XDP program's drops")
    base = ["%s %s" % (r["defense"], fmt((r["cpu"] or {}).get("machine_cores_before_flood"), "%.2f"))
            for r in res]
    lines.append("  machine cores busy before the flood (legit load, anything else running): " +
                 ", ".join(base))
    lines.append("  NFQ drop: queue_dropped + queue_user_dropped (synguard's queue_full = \"drop\", the"
                 " default; with \"accept\" a full queue lets packets through to the kernel uncounted)")
    for r in res:
        if r["defense"] in SYNGUARDD_DEFENSES and r["rst_per_s"]:
            lines.append("  %s: %d RSTs/s reached the spoofed sources: flood SYNs that"
                         " bypassed a full queue (queue_full = \"accept\") and found no listener" %
                         (r["defense"], r["rst_per_s"]))
    for r in res:
        if r.get("xdp"):
            x = r["xdp"]
            lines.append("  %s: XDP answered %d SYNs (syn_answered; synguardd's synack_sent %d),"
                         " dropped %d invalid and %d expired ACKs, passed %d valid ACKs on;"
                         " syn_passed %d, passed_unparsed %d, passed_csum %d, passed_noroom %d" % (
                             r["defense"], x["syn_answered"], r["synguard"].get("synack_sent", 0),
                             x["ack_invalid"], x["ack_expired"], x["ack_valid"], x["syn_passed"],
                             x["passed_unparsed"], x["passed_csum"], x["passed_noroom"]))
    if any(r["defense"] == "generator" for r in res):
        lines.append("  generator: the flood dropped by XDP on the server's att0, unanswered: its"
                     " us/pkt is what the generator (and the veth) cost per packet by itself")
        for r in res:
            if r.get("own_us_per_synack") is not None or r.get("own_us_per_flood_pkt") is not None:
                lines.append("  %s: own cost (minus the generator's us/pkt): %s us per SYN-ACK,"
                             " %s us per flood packet" % (
                                 r["defense"], fmt(r["own_us_per_synack"], "%.2f"),
                                 fmt(r["own_us_per_flood_pkt"], "%.2f")))
    busy = [r["defense"] for r in res
            if ((r["cpu"] or {}).get("machine_cores_before_flood") or 0) > 0.5]
    if busy:
        lines.append("  WARNING: something else kept the machine busy before the flood (%s):"
                     " figures are not comparable; rerun on an idle machine" % ", ".join(busy))
    for r in res:
        if r["legit"]["failures"]:
            lines.append("  %s failures: %s" % (r["defense"], ", ".join(
                "%s %d" % kv for kv in sorted(r["legit"]["failures"].items()))))
    return lines


def ratios(res, subject="synguard"):
    by = {r["defense"]: r for r in res}
    sg = by.get(subject)
    out = {}
    if not sg:
        return out
    for peer, r in by.items():
        if peer in (subject, "generator"):
            continue
        sgc, pc = sg["cpu"] or {}, r["cpu"] or {}
        out[peer] = {
            "legit_success": ratio(sg["legit"]["success_pct"], r["legit"]["success_pct"]),
            # latency of the few connections a failing peer let through says little
            "connect_p99": ratio(sg["legit"]["connect_ms"].get("p99"),
                                 r["legit"]["connect_ms"].get("p99"))
            if min(sg["legit"]["success_pct"] or 0, r["legit"]["success_pct"] or 0) >= 50
            else None,
            "synack_rate": ratio(sg["synack_per_s"], r["synack_per_s"]),
            "cpu_per_answered_syn": ratio(sgc.get("machine_us_per_synack"),
                                          pc.get("machine_us_per_synack")),
            "cpu_per_flood_packet": ratio(sgc.get("machine_us_per_flood_pkt"),
                                          pc.get("machine_us_per_flood_pkt")),
        }
    return out


def ratio_lines(rat, subject="synguard"):
    if not rat:
        return []
    lines = ["", "%-19s legit success   connect p99   SYN-ACK rate   CPU per answered SYN"
             "   CPU per flood pkt" % ("%s / peer" % subject)]
    for peer, x in rat.items():
        lines.append("  vs %-14s %13s %13s %14s %22s %19s" % (
            peer, fmt_ratio(x["legit_success"]), fmt_ratio(x["connect_p99"]),
            fmt_ratio(x["synack_rate"]), fmt_ratio(x["cpu_per_answered_syn"]),
            fmt_ratio(x["cpu_per_flood_packet"])))
    lines.append("  (success and SYN-ACK rate: higher is better for %s; p99 and CPU: lower;"
                 " p99 n/a when either side kept under 50%% of the connections)" % subject)
    return lines


GNUPLOT = r"""
set terminal pngcairo size 1100,1000 font "DejaVu Sans,10"
set output '{png}'
set datafile missing '?'
set datafile separator whitespace
set key outside right top
set grid
set multiplot layout 3,1 title "{title}" font ",12"
set object 1 rect from {f0},graph 0 to {f1},graph 1 behind fc rgb "#ffe9e0" fs solid noborder
set lmargin 10
set rmargin 20
set xrange [0:{tmax}]
set ylabel "legit success %"
set yrange [-2:102]
plot {succ}
set ylabel "connect p99 ms"
set logscale y
set yrange [0.01:*]
plot {lat}
unset logscale y
set ylabel "answers to spoofed sources (k/s)"
set yrange [0:*]
set xlabel "seconds since the legitimate load started (shaded: flood)"
plot {rx}
unset multiplot
"""

COLORS = {"none": "#d62728", "syncookies": "#1f77b4", "synproxy": "#2ca02c", "synguard": "#9467bd",
          "synguard-local": "#ff7f0e", "synguard-xdp": "#8c564b", "generator": "#7f7f7f"}


def chart(d, res, scen):
    if not res:
        return None
    files = []
    for r in res:
        path = os.path.join(d, "series-%s.dat" % r["defense"])
        with open(path, "w") as f:
            f.write("# t success_pct p50_ms p99_ms answers_per_s machine_cores\n")
            for s in r["series"]:
                f.write("%s %s %s %s %s %s\n" % (
                    s["t"] + 0.5, fmt(s["success_pct"], "%.2f", "?"), fmt(s["p50"], "%.3f", "?"),
                    fmt(s["p99"], "%.3f", "?"), fmt(s.get("answers_per_s"), "%d", "?"),
                    fmt(s.get("machine_cores"), "%.3f", "?")))
        files.append((r["defense"], path))

    def plots(col, scale=""):
        return ", ".join("'%s' using 1:(%s$%d) with linespoints lw 2 pt 7 ps 0.5 lc rgb '%s' title '%s'" %
                         (p, scale, col, COLORS.get(n, "black"), DEFENSE_LABEL.get(n, n))
                         for n, p in files)

    pre = float(scen["PRE"])
    dur = float(scen["DURATION"])
    tmax = max((s["t"] + 1 for r in res for s in r["series"]), default=pre + dur)
    png = os.path.join(d, "chart.png")
    gp = GNUPLOT.format(
        png=png, f0=pre, f1=pre + dur, tmax=tmax,
        title="%s: %s at %s pps, legit %s conn/s" % (scen["NAME"], scen["ATTACK"], scen["RATE"],
                                                    scen["LEGIT_CPS"]),
        succ=plots(2), lat=plots(4), rx=plots(5, "0.001*"))
    gpath = os.path.join(d, "chart.gp")
    with open(gpath, "w") as f:
        f.write(gp)
    try:
        subprocess.run(["gnuplot", gpath], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print("benchreport: gnuplot failed: %s" % getattr(e, "stderr", e), file=sys.stderr)
        return None
    return png


def cmd_report(a):
    d = a.dir
    scen = json.loads(slurp(os.path.join(d, "scenario.json")))
    res = []
    for name in scen["DEFENSES"].split():
        ddir = os.path.join(d, name)
        if os.path.isdir(ddir):
            res.append(defense_result(ddir, name, scen))
    own_costs(res)
    rat = {s: ratios(res, s) for s in SUBJECTS}
    lines = table(res, scen)
    for subj in SUBJECTS:
        lines += ratio_lines(rat[subj], subj)
    host = json.loads(slurp(os.path.join(d, "host.json"), "{}"))
    png = chart(d, res, scen)
    doc = {"scenario": scen, "host": host, "results": res,
           "ratios_synguard_over_peer": rat["synguard"],
           "ratios_synguard_local_over_peer": rat["synguard-local"],
           "ratios_synguard_xdp_over_peer": rat["synguard-xdp"],
           "chart": os.path.basename(png) if png else None}
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
    with open(os.path.join(d, "table.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def verdict(ok):
    return "met" if ok else "NOT met"


def cmd_targets(a):
    """The XDP datapath's targets, subject against peer, from one perf.sh run."""
    S, P = a.subject, a.peer

    def load(d):
        if not d:
            return None
        doc = json.loads(slurp(os.path.join(d, "results.json"), "{}"))
        by = {r["defense"]: r for r in doc.get("results", [])}
        return doc, by

    def c(r, k):
        return ((r or {}).get("cpu") or {}).get(k)

    def success(r):
        return (r or {}).get("legit", {}).get("success_pct")

    out = ["targets: %s against %s, alternated in one perf.sh run (ratios; absolute figures"
           " move with the machine's other load)" % (S, P)]
    syn = load(a.syn)
    if syn:
        doc, by = syn
        s, p, g = by.get(S), by.get(P), by.get("generator")
        if s and p:
            rr = ratio(s["synack_per_s"], p["synack_per_s"])
            out.append("  max-rate SYN flood (load at start %s): SYN-ACKs/s %d vs %d: %s"
                       " (target >= 2.0x: %s)" % (
                           " ".join(doc.get("host", {}).get("loadavg_at_start", [])),
                           s["synack_per_s"], p["synack_per_s"], fmt_ratio(rr),
                           verdict(rr is not None and rr >= 2.0)))
            rc = ratio(c(s, "machine_us_per_synack"), c(p, "machine_us_per_synack"))
            out.append("    machine CPU per SYN-ACK %s vs %s us: %s (target <= 0.5x: %s)" % (
                fmt(c(s, "machine_us_per_synack"), "%.2f"), fmt(c(p, "machine_us_per_synack"), "%.2f"),
                fmt_ratio(rc), verdict(rc is not None and rc <= 0.5)))
            if g:
                own = s.get("own_us_per_synack")
                out.append("    own cost per SYN (CPU per SYN-ACK minus the generator-only phase's %s"
                           " us per SYN): %s %s us, %s %s us (target <= 0.5 us: %s)" % (
                               fmt(c(g, "machine_us_per_flood_pkt"), "%.2f"), S, fmt(own, "%.2f"),
                               P, fmt(p.get("own_us_per_synack"), "%.2f"),
                               verdict(own is not None and own <= 0.5)))
            else:
                out.append("    own cost per SYN: no generator-only phase in this run")
            ok = success(s)
            out.append("    legit success %s%% (%s %s%%) (target 100%%: %s)" % (
                fmt(ok), P, fmt(success(p)), verdict(ok == 100.0)))
            sent = s["flood"].get("sent") or 0
            unanswered = max(sent - s.get("synacks", 0), 0)
            nfq = s.get("nfqueue_dropped") or 0
            x = s.get("xdp") or {}
            out.append("    drops: NFQUEUE %d; flood SYNs sent %d, SYN-ACKs at the attacker %d"
                       " (unanswered %d = %.2f%%; XDP passed_noroom %d); %s: unanswered %d"
                       " (target 0: %s)" % (
                           nfq, sent, s.get("synacks", 0), unanswered,
                           100.0 * unanswered / sent if sent else 0, x.get("passed_noroom", 0), P,
                           max((p["flood"].get("sent") or 0) - p.get("synacks", 0), 0),
                           verdict(nfq == 0 and unanswered == 0)))
        else:
            out.append("  max-rate SYN flood: %s or %s missing in %s" % (S, P, a.syn))
    ack = load(a.ack)
    if ack:
        doc, by = ack
        s, p, g = by.get(S), by.get(P), by.get("generator")
        if s and p:
            rc = ratio(c(s, "machine_us_per_flood_pkt"), c(p, "machine_us_per_flood_pkt"))
            out.append("  max-rate ACK flood (load at start %s): machine CPU per dropped packet"
                       " %s vs %s us: %s (target <= 0.5x: %s)" % (
                           " ".join(doc.get("host", {}).get("loadavg_at_start", [])),
                           fmt(c(s, "machine_us_per_flood_pkt"), "%.2f"),
                           fmt(c(p, "machine_us_per_flood_pkt"), "%.2f"), fmt_ratio(rc),
                           verdict(rc is not None and rc <= 0.5)))
            out.append("    flood %s vs %s pps; bad ACKs dropped %s of %s sent (%s: %s of %s)" % (
                fmt(s["flood"].get("pps"), "%d"), fmt(p["flood"].get("pps"), "%d"),
                fmt(s["invalid_acks_dropped"], "%d"), fmt(s["flood"].get("sent"), "%d"), P,
                fmt(p["invalid_acks_dropped"], "%d"), fmt(p["flood"].get("sent"), "%d")))
            if g:
                out.append("    own cost per packet (minus the generator-only phase's %s us): %s %s us,"
                           " %s %s us" % (fmt(c(g, "machine_us_per_flood_pkt"), "%.2f"), S,
                                          fmt(s.get("own_us_per_flood_pkt"), "%.2f"), P,
                                          fmt(p.get("own_us_per_flood_pkt"), "%.2f")))
            ok = success(s)
            out.append("    legit success %s%% (%s %s%%) (target 100%%: %s)" % (
                fmt(ok), P, fmt(success(p)), verdict(ok == 100.0)))
        else:
            out.append("  max-rate ACK flood: %s or %s missing in %s" % (S, P, a.ack))
    rats = []
    for i, ldir in enumerate(a.latency or []):
        lat = load(ldir)
        doc, by = lat
        s, p = by.get(S), by.get(P)
        if not (s and p):
            out.append("  connect p99: %s or %s missing in %s" % (S, P, ldir))
            continue
        sp, pp = s["legit"]["connect_ms"].get("p99"), p["legit"]["connect_ms"].get("p99")
        rr = ratio(sp, pp)
        if rr is not None:
            rats.append(rr)
        out.append("  connect p99 at %s SYN/s (scenario %s, run %d, load at start %s): %s vs %s ms:"
                   " %s; p50 %s vs %s ms; legit success %s%% vs %s%%" % (
                       doc["scenario"]["RATE"], doc["scenario"]["NAME"], i + 1,
                       " ".join(doc.get("host", {}).get("loadavg_at_start", [])),
                       fmt(sp, "%.2f"), fmt(pp, "%.2f"), fmt_ratio(rr),
                       fmt(s["legit"]["connect_ms"].get("p50"), "%.2f"),
                       fmt(p["legit"]["connect_ms"].get("p50"), "%.2f"), fmt(success(s)),
                       fmt(success(p))))
    if rats:
        med = statistics.median(rats)
        out.append("    connect p99 ratio, median of %d run%s: %s (target <= 1.5x: %s)" % (
            len(rats), "" if len(rats) == 1 else "s", fmt_ratio(med), verdict(med <= 1.5)))
    print("\n".join(out))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--out", required=True)
    s.add_argument("--stop", required=True)
    s.add_argument("--max-seconds", type=float, required=True)
    s.add_argument("--iface", default="eth0")
    s.add_argument("--interval", type=float, default=0.5)
    s.add_argument("--pidfile", action="append", default=[])
    r = sub.add_parser("report")
    r.add_argument("dir")
    t = sub.add_parser("targets")
    t.add_argument("--subject", default="synguard-xdp")
    t.add_argument("--peer", default="synproxy")
    t.add_argument("--syn")
    t.add_argument("--ack")
    t.add_argument("--latency", action="append", help="a latency run's directory (repeatable)")
    a = ap.parse_args()
    if a.cmd == "targets":
        return cmd_targets(a)
    return cmd_sample(a) if a.cmd == "sample" else cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
