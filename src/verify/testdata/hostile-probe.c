/*
 * A hostile image's app (compiled static by the tests): tries to leave a chroot as root and
 * write HOSTILE_SENTINEL on the host, reports its caps/no_new_privs/seccomp/namespaces, then
 * serves "ok" on $PORT (default 8080), printing a line per request, and exits 0 on SIGTERM
 * (or ignores it with PROBE_IGNORE_TERM set), so run and verify can pass. PROBE_NO_LISTEN:
 * never opens the port. PROBE_FORK_BOMB: forks until fork fails (capped at 4000, so a host
 * without a pids limit survives the test), reports "PROBE forks count=N errno=E", then serves.
 * PROBE_ALLOC_MIB=N: allocates and touches N MiB before serving. PROBE_SYSCALLS: tries
 * syscalls a web API never makes, "PROBE syscalls kexec_load=1 …" (the errno, 0 if allowed).
 * PROBE_CGROUP: "PROBE cgroup memory=N" — the memory limit a runtime sees (v1 or v2 file), or "none".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }

/* One line: "PROBE status CapEff=… NoNewPrivs=… Seccomp=…" (verify keeps only the last lines). */
static void print_status_fields(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256], out[512] = "PROBE status";
  if (!f) { printf("PROBE status unreadable\n"); return; }
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "CapEff:", 7) || !strncmp(line, "NoNewPrivs:", 11) || !strncmp(line, "Seccomp:", 8)) {
      char key[32], val[64];
      if (sscanf(line, "%31[^:]:%63s", key, val) == 2) snprintf(out + strlen(out), sizeof out - strlen(out), " %s=%s", key, val);
    }
  }
  fclose(f);
  printf("%s\n", out);
}

/* One line: "PROBE ns user=user:[…] mnt=…". */
static void print_ns(void) {
  const char *ns[] = {"user", "mnt", "pid", "net", "uts", "ipc"};
  char out[512] = "PROBE ns";
  for (int i = 0; i < 6; i++) {
    char path[64], target[128];
    snprintf(path, sizeof path, "/proc/self/ns/%s", ns[i]);
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n > 0 ? n : 0] = 0;
    snprintf(out + strlen(out), sizeof out - strlen(out), " %s=%s", ns[i], n > 0 ? target : "unreadable");
  }
  printf("%s\n", out);
}

/* Children that only sleep: each holds a pid until the probe kills them all. */
static void fork_bomb(void) {
  int n = 0, err = 0;
  pid_t kids[4000];
  while (n < 4000) {
    pid_t k = fork();
    if (k == 0) { for (;;) pause(); }
    if (k < 0) { err = errno; break; }
    kids[n++] = k;
  }
  printf("PROBE forks count=%d errno=%d\n", n, err);
  for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
  for (int i = 0; i < n; i++) waitpid(kids[i], NULL, 0);
}

/* Each with harmless arguments: a filter that lets one through gets EINVAL/EFAULT/EBADF or 0, not EPERM/ENOSYS. */
static void try_syscalls(void) {
  struct { const char *name; long nr; long a, b, c; } calls[] = {
    {"kexec_load", SYS_kexec_load, 0, 0, 0},
    {"open_by_handle_at", SYS_open_by_handle_at, -1, 0, 0},
    {"bpf", SYS_bpf, -1, 0, 0},
    {"keyctl", SYS_keyctl, 0, 0, 0},
    {"io_uring_setup", SYS_io_uring_setup, 1, 0, 0},
    {"set_mempolicy", SYS_set_mempolicy, 0, 0, 0},
    {"personality", SYS_personality, 0x0400000 /* READ_IMPLIES_EXEC */, 0, 0},
  };
  char out[512] = "PROBE syscalls";
  for (unsigned i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    errno = 0;
    long r = syscall(calls[i].nr, calls[i].a, calls[i].b, calls[i].c);
    snprintf(out + strlen(out), sizeof out - strlen(out), " %s=%d", calls[i].name, r < 0 ? errno : 0);
  }
  syscall(SYS_personality, 0); /* back to plain Linux if it was let through */
  printf("%s\n", out);
}

static void print_cgroup_memory(void) {
  const char *files[] = {"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"};
  char v[64] = "none";
  for (int i = 0; i < 2; i++) {
    FILE *f = fopen(files[i], "r");
    if (!f) continue;
    if (fgets(v, sizeof v, f)) v[strcspn(v, "\n")] = 0;
    fclose(f);
    break;
  }
  printf("PROBE cgroup memory=%s\n", v);
}

static void allocate(long mib) {
  for (long i = 0; i < mib; i++) {
    char *p = malloc(1 << 20);
    if (!p) { printf("PROBE alloc failed at=%ld\n", i); return; }
    memset(p, 1, 1 << 20); /* touched: resident, not only reserved */
  }
  printf("PROBE alloc done mib=%ld\n", mib);
}

static void try_escape(const char *sentinel) {
  const char *dirs[] = {"/tmp/.esc", "/.esc", ".esc"};
  int made = -1;
  for (int i = 0; i < 3 && made < 0; i++) {
    if (mkdir(dirs[i], 0755) == 0 || access(dirs[i], F_OK) == 0) made = i;
  }
  if (made < 0 || chroot(dirs[made]) != 0) { printf("PROBE escape result=blocked chroot:%d\n", errno); return; }
  for (int i = 0; i < 64; i++) (void)chdir("..");
  if (chroot(".") != 0) { printf("PROBE escape result=blocked chroot-dot:%d\n", errno); return; }
  int fd = open(sentinel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) { printf("PROBE escape result=blocked open:%d\n", errno); return; }
  (void)write(fd, "escaped\n", 8);
  close(fd);
  printf("PROBE escape result=WROTE path=%s\n", sentinel);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGTERM, getenv("PROBE_IGNORE_TERM") ? SIG_IGN : on_term);
  print_status_fields();
  print_ns();
  FILE *m = fopen("/proc/self/uid_map", "r");
  char map[128] = "";
  if (m) { if (fgets(map, sizeof map, m)) map[strcspn(map, "\n")] = 0; fclose(m); }
  char inside[32] = "", outside[32] = "", count[32] = "";
  sscanf(map, "%31s %31s %31s", inside, outside, count);
  printf("PROBE uid_map inside=%s outside=%s count=%s\n", inside, outside, count);
  const char *sentinel = getenv("HOSTILE_SENTINEL");
  if (sentinel) try_escape(sentinel);
  if (getenv("PROBE_SYSCALLS")) try_syscalls();
  if (getenv("PROBE_CGROUP")) print_cgroup_memory();
  if (getenv("PROBE_FORK_BOMB")) fork_bomb();
  if (getenv("PROBE_ALLOC_MIB")) allocate(atol(getenv("PROBE_ALLOC_MIB")));
  if (getenv("PROBE_NO_LISTEN")) { printf("PROBE not listening\n"); for (;;) pause(); }
  const char *port = getenv("PORT");
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port ? atoi(port) : 8080), .sin_addr.s_addr = htonl(INADDR_ANY)};
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) { printf("PROBE listen failed: %m\n"); return 3; }
  printf("PROBE listening\n");
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    char buf[1024];
    (void)read(c, buf, sizeof buf);
    printf("PROBE request\n");
    const char *res = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
    (void)write(c, res, strlen(res));
    close(c);
  }
}
