/*
 * msghub benchmark load generator: one single-threaded epoll process that holds thousands of raw WebSocket
 * (or Socket.IO-over-WebSocket) client connections to 127.0.0.1 and publishes into them.
 *
 * Built at bench time by bench/lib/loadgen.mjs with the system gcc into a temporary directory; never committed
 * as a binary. It is deliberately dumb on the receive side: it walks frame headers, counts frames, and looks
 * inside a payload only for what a scenario needs (the publisher's "seq" for latency, `"_seq":` for replay
 * rows and gap checks). That keeps it far cheaper per delivery than the server under test.
 *
 * Usage: loadgen <port> <proto: ws|sio> <max-seconds>
 * It reads one command per line on stdin and answers each with one JSON line on stdout:
 *   open <role: sub|pub> <count> <concurrency> <rcvbuf|0> <path>   connect; answers when all are up (or failed)
 *   channel <name>                    the "channel" of published messages (message stays 235 bytes)
 *   closed <window>                   publish closed-loop: sent - delivered/subs < window
 *   rate <msgs/s>                     publish open-loop at a fixed rate (1 ms timer resolution)
 *   stop                              stop publishing; answers when every sent message reached every sub (10 s cap)
 *   snap                              counters now
 *   record on|off                     latency recording (on resets the histogram)
 *   lat                               latency percentiles of what was recorded
 *   pause <idx> / unpause <idx>       stop / resume reading connection idx (global index, see open's "first")
 *   track <idx>                       parse `"_seq":` of every frame idx receives (first/last/gaps)
 *   info <idx>                        one connection's counters
 *   replay <expect_rows> <timeout_ms> <settle_ms> <path>   open one tracked connection and time its history
 *   close_all                         close every connection
 *   quit
 * All traffic goes to 127.0.0.1; sources are spread over 127.0.0.2-9 so 20k connections never run out of ports.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_CONNS 40000
#define RBUF (256 * 1024)
#define RING (1u << 21)
#define H1 100000 /* 1 us buckets up to 100 ms */
#define H2 60000  /* 1 ms buckets up to 60 s */
#define STDIN_TAG 0xffffffffu
#define MSG_BYTES 235

enum { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_SIO_WAIT_OPEN, ST_SIO_WAIT_NS, ST_OPEN, ST_CLOSED };
enum { R_SUB, R_PUB, R_REPLAY };
enum { M_NONE, M_CLOSED, M_RATE };

typedef struct {
  int fd;
  uint8_t state, role, paused, track;
  uint16_t close_code;
  int path;
  uint8_t *buf; /* carry: handshake bytes or an incomplete frame */
  uint32_t len, cap;
  uint8_t *out; /* bytes the kernel did not take yet */
  uint32_t olen, ocap;
  uint64_t frames, bytes, rows, gaps;
  int64_t first_seq, last_seq;
  uint64_t t_start, t_open, t_first, t_last, t_done;
  uint64_t expect_rows;
} conn_t;

static conn_t conns[MAX_CONNS];
static int nconns = 0;
static int ep;
static int port;
/* Publishers connect here when set (the cluster scenario: publish to node A, subscribe on node B). */
static int pub_port;
static int sio = 0;
static char *paths[64];
static int npaths = 0;
static uint8_t rb[RBUF];

/* publishing */
static int mode = M_NONE;
static double window = 16, rate = 0;
static uint64_t rate_t0 = 0, rate_sent = 0;
static uint64_t seq = 0; /* global message counter, written into every message */
static uint64_t sent = 0, delivered = 0, sub_bytes = 0, recv_calls = 0;
static uint64_t run_sent0 = 0, run_deliv0 = 0;
static uint64_t *ring;
static int pub_rr = 0;
static char tmpl[512];
static int tmpl_len = 0, tmpl_seq_off = 0;

/* latency */
static int recording = 0;
static uint32_t *h1, *h2;
static uint64_t lat_n = 0, lat_over = 0;
static double lat_sum = 0, lat_max = 0;

/* pending asynchronous commands */
static struct {
  int active, role, conc, rcvbuf, path;
  int to_start, in_flight, done, failed, first;
  uint64_t t0, deadline;
} op;
static struct {
  int active;
  uint64_t deadline;
  int active_subs;
} drain;
static struct {
  int active, idx;
  uint64_t deadline, settle;
} rp;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static double ms_between(uint64_t a, uint64_t b) { return a && b ? (double)(int64_t)(b - a) / 1e6 : -1; }

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void reply(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

static void ensure(uint8_t **b, uint32_t *cap, uint32_t need) {
  if (need <= *cap) return;
  uint32_t c = *cap ? *cap : 512;
  while (c < need) c *= 2;
  *b = realloc(*b, c);
  if (!*b) {
    fprintf(stderr, "loadgen: out of memory\n");
    exit(3);
  }
  *cap = c;
}

static void set_events(conn_t *c, int idx) {
  struct epoll_event ev = {0};
  ev.data.u32 = (uint32_t)idx;
  if (c->state == ST_CONNECTING) ev.events = EPOLLOUT;
  else {
    ev.events = c->paused ? 0 : EPOLLIN;
    if (c->olen) ev.events |= EPOLLOUT;
  }
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int active_subs(void) {
  int n = 0;
  for (int i = 0; i < nconns; i++)
    if (conns[i].role == R_SUB && conns[i].state == ST_OPEN && !conns[i].paused) n++;
  return n;
}

static void conn_close(conn_t *c, int idx);

/* Writes bytes, keeping what the kernel refuses for EPOLLOUT. */
static void send_bytes(conn_t *c, int idx, const uint8_t *p, size_t n) {
  if (c->state == ST_CLOSED || c->state == ST_FREE) return;
  if (c->olen == 0) {
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        conn_close(c, idx);
        return;
      }
      w = 0;
    }
    if ((size_t)w == n) return;
    p += w;
    n -= (size_t)w;
    ensure(&c->out, &c->ocap, (uint32_t)n);
    memcpy(c->out, p, n);
    c->olen = (uint32_t)n;
    set_events(c, idx);
    return;
  }
  ensure(&c->out, &c->ocap, c->olen + (uint32_t)n);
  memcpy(c->out + c->olen, p, n);
  c->olen += (uint32_t)n;
}

/* A masked client text frame (zero mask key: legal, and leaves the payload as is). */
static void send_text(conn_t *c, int idx, const char *payload, size_t n) {
  uint8_t f[1024];
  size_t h;
  if (n + 14 > sizeof f) return;
  f[0] = 0x81;
  if (n < 126) {
    f[1] = 0x80 | (uint8_t)n;
    h = 2;
  } else {
    f[1] = 0x80 | 126;
    f[2] = (uint8_t)(n >> 8);
    f[3] = (uint8_t)n;
    h = 4;
  }
  memset(f + h, 0, 4);
  h += 4;
  memcpy(f + h, payload, n);
  send_bytes(c, idx, f, h + n);
}

static void send_control(conn_t *c, int idx, uint8_t opcode, const uint8_t *payload, size_t n) {
  uint8_t f[140];
  if (n > 125) n = 125;
  f[0] = 0x80 | opcode;
  f[1] = 0x80 | (uint8_t)n;
  memset(f + 2, 0, 4);
  memcpy(f + 6, payload, n);
  send_bytes(c, idx, f, 6 + n);
}

static void build_template(const char *channel) {
  const char *lorem =
      "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore "
      "magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo "
      "consequat.";
  char head[256];
  int hl = snprintf(head, sizeof head,
                    "{\"seq\":\"0000000000\",\"user\":\"alice\",\"timestamp\":\"2023-05-06T12:34:56.789Z\",\"channel\":\"%s\","
                    "\"body\":\"",
                    channel);
  int body = MSG_BYTES - hl - 2;
  if (body < 1) body = 1;
  char msg[512];
  memcpy(msg, head, (size_t)hl);
  for (int i = 0; i < body; i++) msg[hl + i] = lorem[i % (int)strlen(lorem)];
  memcpy(msg + hl + body, "\"}", 2);
  int ml = hl + body + 2;
  if (sio) {
    tmpl_len = snprintf(tmpl, sizeof tmpl, "42[\"msg\",%.*s]", ml, msg);
    tmpl_seq_off = 9 + 8;
  } else {
    memcpy(tmpl, msg, (size_t)ml);
    tmpl_len = ml;
    tmpl_seq_off = 8;
  }
}

static int publish_one(uint64_t now) {
  int n = nconns;
  for (int k = 0; k < n; k++) {
    int i = (pub_rr + k) % n;
    conn_t *c = &conns[i];
    if (c->role != R_PUB || c->state != ST_OPEN || c->olen > (1u << 20)) continue;
    pub_rr = i + 1;
    uint64_t s = ++seq;
    uint64_t v = s;
    for (int d = 9; d >= 0; d--) {
      tmpl[tmpl_seq_off + d] = (char)('0' + v % 10);
      v /= 10;
    }
    ring[s & (RING - 1)] = now;
    send_text(c, i, tmpl, (size_t)tmpl_len);
    sent++;
    return 1;
  }
  return 0;
}

static void lat_record(double us) {
  if (us < 0) us = 0;
  if (us < H1) h1[(int)us]++;
  else if (us / 1000 < H2) h2[(int)(us / 1000)]++;
  else lat_over++;
  lat_n++;
  lat_sum += us;
  if (us > lat_max) lat_max = us;
}

static double lat_pct(double p) {
  if (!lat_n) return -1;
  uint64_t target = (uint64_t)(p / 100.0 * (double)lat_n);
  if (target >= lat_n) target = lat_n - 1;
  uint64_t acc = 0;
  for (int i = 0; i < H1; i++) {
    acc += h1[i];
    if (acc > target) return i / 1000.0;
  }
  for (int i = 0; i < H2; i++) {
    acc += h2[i];
    if (acc > target) return (double)i;
  }
  return lat_max / 1000.0;
}

static int64_t parse_int(const uint8_t *p, const uint8_t *end) {
  int64_t v = 0;
  int any = 0;
  while (p < end && *p >= '0' && *p <= '9') {
    v = v * 10 + (*p - '0');
    p++;
    any = 1;
  }
  return any ? v : -1;
}

static void seq_seen(conn_t *c, int64_t s) {
  if (s < 0) return;
  if (c->first_seq < 0) c->first_seq = s;
  else if (s != c->last_seq + 1) c->gaps++;
  c->last_seq = s;
}

static void finish_handshake(conn_t *c, int idx, uint64_t now);

/* One complete frame. */
static void on_frame(conn_t *c, int idx, const uint8_t *f, size_t tot, uint64_t now) {
  uint8_t op = f[0] & 0x0f;
  uint8_t l7 = f[1] & 0x7f;
  size_t h = l7 < 126 ? 2 : l7 == 126 ? 4 : 10;
  if (f[1] & 0x80) h += 4;
  const uint8_t *p = f + h;
  size_t n = tot - h;
  if (op == 0x8) {
    c->close_code = n >= 2 ? (uint16_t)((p[0] << 8) | p[1]) : 1005;
    conn_close(c, idx);
    return;
  }
  if (op == 0x9) {
    send_control(c, idx, 0xA, p, n);
    return;
  }
  if (op == 0xA) return;
  /* data frame (text, binary, continuation) */
  if (sio) {
    if (n == 1 && p[0] == '2') { /* engine.io ping */
      send_text(c, idx, "3", 1);
      return;
    }
    if (c->state == ST_SIO_WAIT_OPEN && n >= 1 && p[0] == '0') {
      c->state = ST_SIO_WAIT_NS;
      send_text(c, idx, "40", 2);
      return;
    }
    if (c->state == ST_SIO_WAIT_NS && n >= 2 && p[0] == '4' && p[1] == '0') {
      finish_handshake(c, idx, now);
      return;
    }
    if (!(n >= 2 && p[0] == '4' && p[1] == '2')) return;
  }
  c->frames++;
  c->bytes += n;
  if (!c->t_first) c->t_first = now;
  c->t_last = now;
  if (c->role == R_SUB) {
    delivered++;
    sub_bytes += n;
    if (recording && !c->paused && !c->track) {
      size_t lim = n < 64 ? n : 64;
      const uint8_t *k = memmem(p, lim, "\"seq\":\"", 7);
      if (k) {
        int64_t s = parse_int(k + 7, p + n);
        if (s > 0 && (uint64_t)s <= seq && seq - (uint64_t)s < RING) lat_record((double)(now - ring[s & (RING - 1)]) / 1000.0);
      }
    }
  }
  if (c->role == R_REPLAY || c->track) {
    const uint8_t *q = p, *end = p + n;
    while (q < end) {
      const uint8_t *k = memmem(q, (size_t)(end - q), "\"_seq\":", 7);
      if (!k) break;
      c->rows++;
      if (c->track) seq_seen(c, parse_int(k + 7, end));
      q = k + 7;
    }
    if (c->expect_rows && !c->t_done && c->rows >= c->expect_rows) c->t_done = now;
  }
}

/* Bytes needed for the header of the frame starting at b (given len bytes of it). */
static size_t header_need(const uint8_t *b, size_t len) {
  if (len < 2) return 2;
  uint8_t l7 = b[1] & 0x7f;
  return 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((b[1] & 0x80) ? 4 : 0);
}

/* Total frame size if the header is complete, else 0. */
static size_t frame_total(const uint8_t *b, size_t len) {
  size_t h = header_need(b, len);
  if (len < h) return 0;
  uint8_t l7 = b[1] & 0x7f;
  uint64_t pl = l7;
  if (l7 == 126) pl = ((uint64_t)b[2] << 8) | b[3];
  else if (l7 == 127) {
    pl = 0;
    for (int i = 0; i < 8; i++) pl = (pl << 8) | b[2 + i];
  }
  return h + (size_t)pl;
}

static void on_data(conn_t *c, int idx, const uint8_t *p, size_t n, uint64_t now) {
  while (c->len && n && c->state != ST_CLOSED) {
    size_t tot = frame_total(c->buf, c->len);
    size_t want = tot ? tot - c->len : header_need(c->buf, c->len) - c->len;
    size_t take = want < n ? want : n;
    ensure(&c->buf, &c->cap, c->len + (uint32_t)take);
    memcpy(c->buf + c->len, p, take);
    c->len += (uint32_t)take;
    p += take;
    n -= take;
    tot = frame_total(c->buf, c->len);
    if (tot && c->len == tot) {
      c->len = 0;
      on_frame(c, idx, c->buf, tot, now);
    }
  }
  while (n >= 2 && c->state != ST_CLOSED) {
    size_t tot = frame_total(p, n);
    if (!tot || tot > n) break;
    on_frame(c, idx, p, tot, now);
    p += tot;
    n -= tot;
  }
  if (n && c->state != ST_CLOSED) {
    ensure(&c->buf, &c->cap, (uint32_t)n);
    memcpy(c->buf, p, n);
    c->len = (uint32_t)n;
  }
}

static void op_progress(int ok) {
  if (!op.active) return;
  op.in_flight--;
  if (ok) op.done++;
  else op.failed++;
}

static void finish_handshake(conn_t *c, int idx, uint64_t now) {
  (void)idx;
  c->state = ST_OPEN;
  c->t_open = now;
  if (c->role != R_REPLAY) op_progress(1);
}

static void conn_close(conn_t *c, int idx) {
  (void)idx;
  if (c->state == ST_CLOSED || c->state == ST_FREE) return;
  int was_opening = c->state != ST_OPEN && c->role != R_REPLAY;
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->state = ST_CLOSED;
  c->olen = 0;
  if (was_opening) op_progress(0);
}

static int start_conn(int role, int path, int rcvbuf) {
  if (nconns >= MAX_CONNS) return -1;
  int idx = nconns++;
  conn_t *c = &conns[idx];
  memset(c, 0, sizeof *c);
  c->role = (uint8_t)role;
  c->path = path;
  c->first_seq = c->last_seq = -1;
  c->t_start = now_ns();
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) {
    c->state = ST_CLOSED;
    return -1;
  }
  c->state = ST_CONNECTING;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (rcvbuf > 0) setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  struct sockaddr_in src = {0}, dst = {0};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(idx % 8));
  bind(c->fd, (struct sockaddr *)&src, sizeof src);
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)(role == R_PUB && pub_port ? pub_port : port));
  dst.sin_addr.s_addr = htonl(0x7f000001u);
  struct epoll_event ev = {0};
  ev.data.u32 = (uint32_t)idx;
  ev.events = EPOLLOUT;
  if (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
    close(c->fd);
    c->fd = -1;
    c->state = ST_CLOSED;
    return -1;
  }
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
  return idx;
}

static void on_writable(conn_t *c, int idx, uint64_t now) {
  (void)now;
  if (c->state == ST_CONNECTING) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
      conn_close(c, idx);
      return;
    }
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     paths[c->path], port);
    c->state = ST_HANDSHAKE;
    set_events(c, idx);
    send_bytes(c, idx, (const uint8_t *)req, (size_t)n);
    return;
  }
  if (c->olen) {
    ssize_t w = send(c->fd, c->out, c->olen, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) conn_close(c, idx);
      return;
    }
    memmove(c->out, c->out + w, c->olen - (size_t)w);
    c->olen -= (uint32_t)w;
    if (!c->olen) set_events(c, idx);
  }
}

static void on_readable(conn_t *c, int idx, uint64_t now) {
  ssize_t r = recv(c->fd, rb, sizeof rb, 0);
  if (r <= 0) {
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (!c->close_code) c->close_code = 1006;
    conn_close(c, idx);
    return;
  }
  recv_calls++;
  if (c->state == ST_HANDSHAKE) {
    ensure(&c->buf, &c->cap, c->len + (uint32_t)r + 1);
    memcpy(c->buf + c->len, rb, (size_t)r);
    c->len += (uint32_t)r;
    c->buf[c->len] = 0;
    uint8_t *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!e) {
      if (c->len > 8192) conn_close(c, idx);
      return;
    }
    if (c->len < 12 || memcmp(c->buf, "HTTP/1.1 101", 12) != 0) {
      if (getenv("LOADGEN_DEBUG")) fprintf(stderr, "loadgen: handshake refused: %.120s\n", (char *)c->buf);
      conn_close(c, idx);
      return;
    }
    size_t rest = c->len - (size_t)(e + 4 - c->buf);
    uint8_t tmp[4096];
    int big = rest > sizeof tmp;
    uint8_t *copy = big ? malloc(rest) : tmp;
    memcpy(copy, e + 4, rest);
    c->len = 0;
    if (sio) c->state = ST_SIO_WAIT_OPEN;
    else finish_handshake(c, idx, now);
    if (rest) on_data(c, idx, copy, rest, now);
    if (big) free(copy);
    return;
  }
  on_data(c, idx, rb, (size_t)r, now);
}

static void pump(uint64_t now) {
  if (mode == M_CLOSED) {
    int subs = active_subs();
    if (!subs) return;
    for (int guard = 0; guard < 100000; guard++) {
      double avg = (double)(delivered - run_deliv0) / subs;
      if ((double)(sent - run_sent0) - avg >= window) break;
      if (!publish_one(now)) break;
    }
  } else if (mode == M_RATE) {
    uint64_t due = (uint64_t)((double)(now - rate_t0) / 1e9 * rate);
    for (int guard = 0; rate_sent < due && guard < 100000; guard++) {
      if (!publish_one(now)) break;
      rate_sent++;
    }
  }
}

static void check_async(uint64_t now) {
  if (op.active) {
    while (op.to_start > 0 && op.in_flight < op.conc) {
      op.to_start--;
      op.in_flight++;
      if (start_conn(op.role, op.path, op.rcvbuf) < 0) op_progress(0);
    }
    if ((op.to_start == 0 && op.in_flight == 0) || now > op.deadline) {
      double secs = (double)(now - op.t0) / 1e9;
      reply("{\"ok\":%d,\"opened\":%d,\"failed\":%d,\"pending\":%d,\"first\":%d,\"ms\":%.1f,\"per_s\":%.0f}", op.failed == 0 && op.in_flight == 0,
            op.done, op.failed, op.in_flight + op.to_start, op.first, secs * 1000, secs > 0 ? op.done / secs : 0);
      op.active = 0;
    }
  }
  if (drain.active) {
    uint64_t expect = (sent - run_sent0) * (uint64_t)drain.active_subs;
    uint64_t got = delivered - run_deliv0;
    if (got >= expect || now > drain.deadline) {
      reply("{\"ok\":%d,\"sent\":%llu,\"undelivered\":%lld}", got >= expect, (unsigned long long)(sent - run_sent0),
            (long long)expect - (long long)got);
      drain.active = 0;
    }
  }
  if (rp.active) {
    conn_t *c = &conns[rp.idx];
    int done = c->t_done || c->state == ST_CLOSED || now > rp.deadline ||
               (!c->expect_rows && c->t_first && now - c->t_last > rp.settle);
    if (done) {
      reply("{\"ok\":%d,\"connect_ms\":%.2f,\"first_ms\":%.2f,\"done_ms\":%.2f,\"last_ms\":%.2f,\"rows\":%llu,\"frames\":%llu,"
            "\"bytes\":%llu,\"first_seq\":%lld,\"last_seq\":%lld,\"gaps\":%llu,\"close_code\":%d}",
            c->t_done != 0 || (!c->expect_rows && c->t_first != 0), ms_between(c->t_start, c->t_open), ms_between(c->t_start, c->t_first),
            ms_between(c->t_start, c->t_done), ms_between(c->t_start, c->t_last), (unsigned long long)c->rows,
            (unsigned long long)c->frames, (unsigned long long)c->bytes, (long long)c->first_seq, (long long)c->last_seq,
            (unsigned long long)c->gaps, c->close_code);
      rp.active = 0;
    }
  }
}

static int add_path(const char *p) {
  for (int i = 0; i < npaths; i++)
    if (!strcmp(paths[i], p)) return i;
  if (npaths >= 64) return 0;
  paths[npaths] = strdup(p);
  return npaths++;
}

static void command(char *line, uint64_t now) {
  char cmd[32] = {0}, a[64] = {0}, path[900] = {0};
  long x = 0, y = 0, z = 0;
  if (sscanf(line, "%31s", cmd) != 1) return;
  if (!strcmp(cmd, "open")) {
    long count = 0, conc = 0, rcv = 0;
    if (sscanf(line, "open %63s %ld %ld %ld %899s", a, &count, &conc, &rcv, path) != 5) {
      reply("{\"ok\":0,\"error\":\"usage\"}");
      return;
    }
    memset(&op, 0, sizeof op);
    op.active = 1;
    op.role = !strcmp(a, "pub") ? R_PUB : R_SUB;
    op.to_start = (int)count;
    op.conc = conc > 0 ? (int)conc : 100;
    op.rcvbuf = (int)rcv;
    op.path = add_path(path);
    op.first = nconns;
    op.t0 = now;
    op.deadline = now + 120ull * 1000000000ull;
    check_async(now);
  } else if (!strcmp(cmd, "channel")) {
    sscanf(line, "channel %63s", a);
    build_template(a);
    reply("{\"ok\":1,\"bytes\":%d}", tmpl_len);
  } else if (!strcmp(cmd, "closed")) {
    sscanf(line, "closed %ld", &x);
    window = x > 0 ? (double)x : 16;
    mode = M_CLOSED;
    run_sent0 = sent;
    run_deliv0 = delivered;
    pump(now);
    reply("{\"ok\":1}");
  } else if (!strcmp(cmd, "rate")) {
    sscanf(line, "rate %ld", &x);
    rate = (double)x;
    mode = M_RATE;
    rate_t0 = now;
    rate_sent = 0;
    run_sent0 = sent;
    run_deliv0 = delivered;
    reply("{\"ok\":1}");
  } else if (!strcmp(cmd, "stop")) {
    mode = M_NONE;
    drain.active = 1;
    drain.active_subs = active_subs();
    drain.deadline = now + 10ull * 1000000000ull;
    check_async(now);
  } else if (!strcmp(cmd, "snap")) {
    int open_subs = 0, closed = 0;
    for (int i = 0; i < nconns; i++) {
      if (conns[i].role == R_SUB && conns[i].state == ST_OPEN) open_subs++;
      if (conns[i].state == ST_CLOSED) closed++;
    }
    reply("{\"t\":%.6f,\"sent\":%llu,\"delivered\":%llu,\"sub_bytes\":%llu,\"recv_calls\":%llu,\"open_subs\":%d,\"closed\":%d}", (double)now / 1e9,
          (unsigned long long)sent, (unsigned long long)delivered, (unsigned long long)sub_bytes, (unsigned long long)recv_calls, open_subs,
          closed);
  } else if (!strcmp(cmd, "record")) {
    sscanf(line, "record %63s", a);
    recording = !strcmp(a, "on");
    if (recording) {
      memset(h1, 0, H1 * sizeof *h1);
      memset(h2, 0, H2 * sizeof *h2);
      lat_n = lat_over = 0;
      lat_sum = lat_max = 0;
    }
    reply("{\"ok\":1}");
  } else if (!strcmp(cmd, "lat")) {
    reply("{\"n\":%llu,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}", (unsigned long long)lat_n,
          lat_n ? lat_sum / (double)lat_n / 1000.0 : -1, lat_pct(50), lat_pct(90), lat_pct(99), lat_pct(99.9), lat_max / 1000.0);
  } else if (!strcmp(cmd, "pause") || !strcmp(cmd, "unpause") || !strcmp(cmd, "track") || !strcmp(cmd, "info")) {
    sscanf(line, "%*s %ld", &x);
    if (x < 0 || x >= nconns) {
      reply("{\"ok\":0,\"error\":\"no such connection\"}");
      return;
    }
    conn_t *c = &conns[x];
    if (!strcmp(cmd, "pause") || !strcmp(cmd, "unpause")) {
      c->paused = !strcmp(cmd, "pause");
      if (c->state != ST_CLOSED) set_events(c, (int)x);
    } else if (!strcmp(cmd, "track")) {
      c->track = 1;
    }
    reply("{\"ok\":1,\"state\":%d,\"closed\":%d,\"close_code\":%d,\"frames\":%llu,\"bytes\":%llu,\"first_seq\":%lld,\"last_seq\":%lld,\"gaps\":%llu}",
          c->state, c->state == ST_CLOSED, c->close_code, (unsigned long long)c->frames, (unsigned long long)c->bytes, (long long)c->first_seq,
          (long long)c->last_seq, (unsigned long long)c->gaps);
  } else if (!strcmp(cmd, "replay")) {
    if (sscanf(line, "replay %ld %ld %ld %899s", &x, &y, &z, path) != 4) {
      reply("{\"ok\":0,\"error\":\"usage\"}");
      return;
    }
    int idx = start_conn(R_REPLAY, add_path(path), 0);
    if (idx < 0) {
      reply("{\"ok\":0,\"error\":\"connect\"}");
      return;
    }
    conns[idx].track = 1;
    conns[idx].expect_rows = (uint64_t)x;
    rp.active = 1;
    rp.idx = idx;
    rp.deadline = now + (uint64_t)y * 1000000ull;
    rp.settle = (uint64_t)z * 1000000ull;
  } else if (!strcmp(cmd, "close_all")) {
    int n = 0;
    for (int i = 0; i < nconns; i++)
      if (conns[i].state != ST_CLOSED && conns[i].state != ST_FREE) {
        conn_close(&conns[i], i);
        n++;
      }
    op.active = 0;
    reply("{\"ok\":1,\"closed\":%d}", n);
  } else if (!strcmp(cmd, "quit")) {
    reply("{\"ok\":1}");
    exit(0);
  } else {
    reply("{\"ok\":0,\"error\":\"unknown command\"}");
  }
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: loadgen <port> <ws|sio> <max-seconds> [publisher-port]\n");
    return 2;
  }
  port = atoi(argv[1]);
  pub_port = argc > 4 ? atoi(argv[4]) : 0;
  sio = !strcmp(argv[2], "sio");
  uint64_t hard_stop = now_ns() + (uint64_t)atol(argv[3]) * 1000000000ull;
  signal(SIGPIPE, SIG_IGN);
  ring = calloc(RING, sizeof *ring);
  h1 = calloc(H1, sizeof *h1);
  h2 = calloc(H2, sizeof *h2);
  build_template("general");
  ep = epoll_create1(0);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event sev = {.events = EPOLLIN, .data.u32 = STDIN_TAG};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev);
  static char line[4096];
  size_t llen = 0;
  struct epoll_event evs[1024];
  reply("{\"event\":\"ready\"}");
  for (;;) {
    int timeout = mode == M_RATE ? 1 : (op.active || drain.active || rp.active) ? 5 : 50;
    int n = epoll_wait(ep, evs, 1024, timeout);
    uint64_t now = now_ns();
    if (now > hard_stop) {
      fprintf(stderr, "loadgen: time limit reached, exiting\n");
      return 4;
    }
    for (int i = 0; i < n; i++) {
      uint32_t tag = evs[i].data.u32;
      if (tag == STDIN_TAG) {
        for (;;) {
          ssize_t r = read(0, line + llen, sizeof line - 1 - llen);
          if (r == 0) return 0; /* the driver went away */
          if (r < 0) break;
          llen += (size_t)r;
          char *nl;
          while ((nl = memchr(line, '\n', llen))) {
            *nl = 0;
            command(line, now);
            size_t used = (size_t)(nl + 1 - line);
            memmove(line, nl + 1, llen - used);
            llen -= used;
          }
          if (llen >= sizeof line - 1) llen = 0;
        }
        continue;
      }
      conn_t *c = &conns[tag];
      if (c->state == ST_CLOSED || c->state == ST_FREE) continue;
      if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP) && (c->state == ST_CONNECTING || c->olen)) on_writable(c, (int)tag, now);
      if (c->state != ST_CLOSED && c->state != ST_CONNECTING && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->paused)
        on_readable(c, (int)tag, now);
    }
    now = now_ns();
    pump(now);
    check_async(now);
  }
}
