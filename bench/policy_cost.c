/*
 * What a policy decision adds to a login: the full engine path of one
 * attempt (registry lookup, policy_decide, device touch, audit row,
 * budgets, detectors) against the password check it accompanies, measured
 * in the same process, on the same data. Run: build/policy-cost [ROUNDS].
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/password.h"
#include "lib/log.h"
#include "decision/decision.h"

#define COST_ACCOUNTS 200
#define COST_ATTEMPTS 4000 /* engine attempts per round */
#define COST_HASHES   20   /* password checks per round and scheme */

static double
cost_now(void)
{
	struct timespec ts;
	/* CPU time of this thread: other load on the machine does not count,
	 * and both sides are measured the same way. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cost_process_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cost_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double
cost_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cost_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Attempts are answered on the registry writer's thread: count them. */
static pthread_mutex_t cost_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cost_cond = PTHREAD_COND_INITIALIZER;
static int cost_done;

struct cost_attempt {
	struct decision_attempt a;
	char user[32];
	struct cid_identity id;
};

static void
cost_answered(struct decision_attempt *a)
{
	(void)a;
	pthread_mutex_lock(&cost_lock);
	cost_done++;
	pthread_cond_signal(&cost_cond);
	pthread_mutex_unlock(&cost_lock);
}

/* n attempts, one per account in turn, all in flight at once as under
 * load; returns once every one is answered. */
static void
cost_attempts(struct decision *d, struct cost_attempt *v, int n,
              bool password_ok)
{
	pthread_mutex_lock(&cost_lock);
	cost_done = 0;
	pthread_mutex_unlock(&cost_lock);
	for (int i = 0; i < n; i++) {
		struct cost_attempt *c = &v[i];
		memset(c, 0, sizeof(*c));
		snprintf(c->user, sizeof(c->user), "user%d", i % COST_ACCOUNTS);
		snprintf(c->id.type, sizeof(c->id.type), "UUID");
		snprintf(c->id.token, sizeof(c->id.token),
		         "3c2e9e6a-5b1f-4d8e-9f2a-%012d", i % COST_ACCOUNTS);
		c->a.user = c->user;
		c->a.mech = "LOGIN";
		c->a.peer = "127.0.0.9";
		c->a.id = &c->id;
		c->a.done = cost_answered;
		decision_begin(d, &c->a);
		decision_finish(d, &c->a, password_ok, NULL);
	}
	pthread_mutex_lock(&cost_lock);
	while (cost_done < n)
		pthread_cond_wait(&cost_cond, &cost_lock);
	pthread_mutex_unlock(&cost_lock);
	for (int i = 0; i < n; i++)
		decision_session_end(d, &v[i].a.presence);
}

static double
cost_hash_us(const char *scheme, int rounds)
{
	char hash[PASSWORD_HASH_MAX];
	double *v = calloc((size_t)rounds, sizeof(*v));
	if (v == NULL ||
	    !password_hash(scheme, "correct horse", hash, sizeof(hash))) {
		free(v);
		return -1;
	}
	for (int r = 0; r < rounds; r++) {
		double t0 = cost_now();
		for (int i = 0; i < COST_HASHES; i++)
			if (password_verify(hash, "correct horse") !=
			    PASSWORD_OK)
				return -1;
		v[r] = (cost_now() - t0) / COST_HASHES * 1e6;
	}
	double m = cost_median(v, rounds);
	free(v);
	return m;
}

int
main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 5;
	if (rounds < 1)
		rounds = 1;
	char dir[] = "/tmp/policy-cost.XXXXXX", path[64], err[256];
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/registry.db", dir);
	log_setup("policy-cost", false, 0, LOG_LEVEL_ERROR);

	struct decision_options o = {0};
	o.rules.mode = POLICY_LEARN;
	o.rules.learn_max_devices = 1;
	o.rules.max_connections_per_device = 20;
	o.registry_path = path;
	struct ratelimit_params rp = {.window_ms = 900000,
	                              .free = 3,
	                              .block = 10,
	                              .block_ms = 900000,
	                              .delay_base_ms = 1000,
	                              .delay_max_ms = 30000};
	o.rate_token = o.rate_account = o.rate_address = o.rate_network = rp;
	o.budget_v4_bits = 24;
	o.budget_v6_bits = 48;
	o.reuse_window_ms = 3600000;
	o.reuse_accounts = 3;
	o.churn_window_ms = 600000;
	o.churn_tokens = 20;
	o.network_v4_bits = 16;
	o.network_v6_bits = 48;
	o.pending_max = 20;
	struct alert_options ao = {.sendmail = "/usr/sbin/sendmail"};
	struct registry_retention keep = {0};
	uint8_t secret[32] = {1, 2, 3};
	struct alert *alert = alert_new(&ao, err, sizeof(err));
	struct registry_writer *writer =
	        alert ? registry_writer_new(path, &keep, err, sizeof(err))
	              : NULL;
	struct decision *d =
	        writer ? decision_new(&o, secret, sizeof(secret), writer, alert,
	                              err, sizeof(err))
	               : NULL;
	struct cost_attempt *v = calloc(COST_ATTEMPTS, sizeof(*v));
	if (d == NULL || v == NULL) {
		fprintf(stderr, "policy-cost: %s\n", err);
		return 1;
	}
	/* learn: each account trusts its device at the first login */
	cost_attempts(d, v, COST_ACCOUNTS, true);

	/* Process CPU time, so the registry writer thread's batched commits
	 * count too. */
	double p0 = cost_process_now();
	for (int r = 0; r < rounds; r++)
		cost_attempts(d, v, COST_ATTEMPTS, true);
	double policy_us =
	        (cost_process_now() - p0) / (rounds * COST_ATTEMPTS) * 1e6;
	registry_writer_free(writer);
	decision_free(d);
	alert_free(alert);
	free(v);
	double argon = cost_hash_us("ARGON2ID", rounds);
	double sha = cost_hash_us("SHA512-CRYPT", rounds);
	printf("| what | CPU per login |\n|---|---|\n");
	printf("| login decision, trusted device: lookups, decision, budgets, "
	       "detectors, batched touch and audit row (writer thread "
	       "included; mean) | %.1f us |\n",
	       policy_us);
	printf("| password check ARGON2ID, the default scheme (median) | "
	       "%.1f us |\n",
	       argon);
	printf("| password check SHA512-CRYPT (median) | %.1f us |\n", sha);
	printf("| policy / ARGON2ID | %.2f%% |\n", 100 * policy_us / argon);
	printf("| policy / SHA512-CRYPT | %.2f%% |\n", 100 * policy_us / sha);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
