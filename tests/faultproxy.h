/* faultproxy: test equipment on loopback, a TCP relay to a real gateway that injects one fault at
 * a time into the traffic passing through it, on connections old and new. */
#ifndef HBPOOL_TEST_FAULTPROXY_H
#define HBPOOL_TEST_FAULTPROXY_H

typedef enum fp_fault {
  FP_NONE,       /* a plain relay */
  FP_LATENCY,    /* every chunk, either way, waits FP_LATENCY_MS */
  FP_RESET,      /* half a reply chunk, then an RST to the client and a close to the gateway */
  FP_BLACKHOLE,  /* requests go on to the gateway; replies are swallowed; nothing is closed */
  FP_TRICKLE,    /* replies go one byte at a time, FP_TRICKLE_US apart */
  FP_HALF_CLOSE, /* when a reply comes, the client's side is shut for writing (it reads EOF) */
  FP_GARBAGE,    /* each reply chunk is replaced by as many random bytes */
  FP_NFAULTS
} fp_fault;

#define FP_LATENCY_MS 50
#define FP_TRICKLE_US 500

typedef struct faultproxy faultproxy;

/* Listens on 127.0.0.1 (ephemeral port) and relays each connection to host:port. */
faultproxy *fp_start(const char *host, int port);
int fp_port(const faultproxy *p);
/* Switches every connection to the fault from its next chunk on. */
void fp_set(faultproxy *p, fp_fault fault);
const char *fp_name(fp_fault fault);
/* Connections accepted so far. */
long fp_accepted(const faultproxy *p);
/* Closes every connection, stops listening and waits for the relays to end. */
void fp_stop(faultproxy *p);

#endif
