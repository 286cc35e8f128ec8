/* The BPF tests' libbpf log: warnings and errors only (the debug level floods the output). */
#ifndef SYNGUARD_BPF_TEST_LOG_H
#define SYNGUARD_BPF_TEST_LOG_H

#include <stdarg.h>
#include <stdio.h>

#include <bpf/libbpf.h>

static int bpf_test_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

#endif
