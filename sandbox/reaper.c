// brig's reaper: the sandbox's pid 1, in C, run from an ELF constructor
// before the Go runtime starts (as runc's nsexec is). See reaper.go for
// what it does and why it is not Go.

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reaper.h"

// The signals passed on to the workload; SIGCHLD is the reaper's own.
static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1,
				SIGUSR2, SIGWINCH, SIGCONT, SIGALRM};

#define NFORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))

// status_fd is the write end of brig's status pipe, or -1 when the reaper
// runs without brig (an exported config.json under runc or crun).
static int status_fd = -1;

static void report(const char *kind, int n)
{
	char line[32];
	int len;

	if (status_fd < 0)
		return;
	len = snprintf(line, sizeof(line), "%s %d\n", kind, n);
	while (write(status_fd, line, len) < 0 && errno == EINTR)
		;
}

// open_status takes the status pipe's fd from the environment brig gave
// the reaper, and removes the variable so the workload never sees it.
static void open_status(void)
{
	const char *fd = getenv(BRIG_STATUS_ENV);

	if (fd == NULL)
		return;
	status_fd = atoi(fd);
	unsetenv(BRIG_STATUS_ENV);
	if (status_fd < 3 || fcntl(status_fd, F_SETFD, FD_CLOEXEC) < 0)
		status_fd = -1;
}

// kill_sandbox ends everything when brig is gone. As pid 1 of the
// sandbox's pid namespace, kill(-1) reaches every other process in it;
// anywhere else (a test) the reaper kills only its own workload.
static void kill_sandbox(pid_t workload)
{
	if (getpid() == 1)
		kill(-1, SIGKILL);
	else if (workload > 0)
		kill(workload, SIGKILL);
	_exit(128 + SIGKILL);
}

// exec_error_code follows the shells: 127 not found, 126 found but not
// executable.
static int exec_error_code(int err)
{
	return (err == ENOENT || err == ENOTDIR) ? 127 : 126;
}

static const char *exec_error_text(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		return "command not found";
	case EACCES:
		return "permission denied (not executable?)";
	case EAGAIN:
		return "cannot fork: the pids limit leaves no room (it counts the sandbox's pid 1 too)";
	}
	return strerror(err);
}

// start_workload forks and execs argv with the reaper's stdio,
// environment and terminal. An exec failure comes back through a
// close-on-exec pipe as the child's errno: *exec_err is 0 on success.
static pid_t start_workload(char **argv, const sigset_t *mask, int *exec_err)
{
	int pipefd[2], err = 0;
	pid_t pid;
	ssize_t n;

	*exec_err = 0;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		*exec_err = errno;
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		*exec_err = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, mask, NULL);
		execvp(argv[0], argv);
		err = errno;
		while (write(pipefd[1], &err, sizeof(err)) < 0 && errno == EINTR)
			;
		_exit(127);
	}
	close(pipefd[1]);
	do
		n = read(pipefd[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n == sizeof(err)) {
		*exec_err = err;
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

// exit_code is what a shell would report for a wait status.
static int exit_code(int ws)
{
	return WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : WEXITSTATUS(ws);
}

// reap_all collects every exited child; it returns 1, with the
// workload's wait status in *ws, once the workload itself has exited.
static int reap_all(pid_t workload, int *ws)
{
	int done = 0, st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == workload) {
			*ws = st;
			done = 1;
		}
	}
	return done;
}

// linger keeps the sandbox, and so its cgroup, alive after the report
// until brig has read the cgroup's statistics and closed its end of the
// status pipe, then ends it. Without it the statistics race the cgroup's
// removal: systemd removes a transient scope when its last process exits.
static void linger(void)
{
	struct pollfd p = {.fd = status_fd, .events = 0};

	for (;;) {
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
			break;
	}
	kill_sandbox(0);
}

static int reap(char **argv)
{
	sigset_t handled, original;
	struct pollfd fds[2];
	pid_t workload;
	int sfd, exec_err, ws = 0;
	size_t i;

	open_status();
	if (argv[0] == NULL) {
		report("exec", 127);
		return 127;
	}
	// Blocked signals are queued even for a namespace's init, which the
	// kernel otherwise shields from every signal it has no handler for.
	sigemptyset(&handled);
	sigaddset(&handled, SIGCHLD);
	for (i = 0; i < NFORWARDED; i++)
		sigaddset(&handled, forwarded[i]);
	sigprocmask(SIG_BLOCK, &handled, &original);
	sfd = signalfd(-1, &handled, SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "brig: reaper: signalfd: %s\n", strerror(errno));
		report("exec", 126);
		return 126;
	}

	workload = start_workload(argv, &original, &exec_err);
	if (workload < 0) {
		fprintf(stderr, "brig: %s: %s\n", argv[0], exec_error_text(exec_err));
		report("exec", exec_error_code(exec_err));
		if (status_fd >= 0)
			linger();
		return exec_error_code(exec_err);
	}

	fds[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
	fds[1] = (struct pollfd){.fd = status_fd, .events = 0};
	for (;;) {
		struct signalfd_siginfo si;

		// The status pipe's read end lives only in brig, so the kernel
		// reports POLLERR on our write end the moment brig dies, however
		// it dies. A parent-death signal cannot do this: libcontainer's
		// init is forked twice on its way into the namespaces, and the
		// setting does not survive fork.
		if (poll(fds, status_fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			kill_sandbox(workload);
		}
		if (status_fd >= 0 && (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)))
			kill_sandbox(workload);
		if (!(fds[0].revents & POLLIN))
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGCHLD) {
			kill(workload, si.ssi_signo);
			continue;
		}
		if (!reap_all(workload, &ws))
			continue;
		if (WIFSIGNALED(ws))
			report("signal", WTERMSIG(ws));
		else
			report("exit", WEXITSTATUS(ws));
		if (status_fd >= 0)
			linger();
		// Without brig, end like tini: the kernel kills what is left
		// in the pid namespace when its init exits.
		return exit_code(ws);
	}
}

// brig_reaper_constructor runs before main in every brig process, and
// turns the process into the reaper only when argv[1] asks for it.
__attribute__((constructor)) static void brig_reaper_constructor(int argc, char **argv, char **envp)
{
	(void)envp;
	if (argc < 2 || strcmp(argv[1], BRIG_REAPER_ARG) != 0)
		return;
	_exit(reap(argv + 2));
}
