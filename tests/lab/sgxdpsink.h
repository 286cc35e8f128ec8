/* sgxdpsink: the counters of sgxdpsink.bpf.c's map. */
#ifndef SGXDPSINK_H
#define SGXDPSINK_H

enum {
	SGXDPSINK_SYNACK,  /* SYN-ACKs seen */
	SGXDPSINK_RST,     /* RSTs seen */
	SGXDPSINK_DROPPED, /* frames to the spoofed sources, dropped */
	SGXDPSINK_NCOUNTERS,
};

#endif
