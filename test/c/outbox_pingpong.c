/*
 * outbox_pingpong: a worker and a producer of the outbox, in two processes,
 * taking turns one event at a time, so that a lost wake-up cannot be hidden
 * by a later event's notification.
 *
 *   outbox_pingpong CONNINFO ROUNDS [SLOW_COMMIT_US]
 *
 * The worker LISTENs, claims, handles what it claimed (0-2 ms at random),
 * acks, and when a claim finds nothing waits for a notification for up to
 * 3 s.  The producer emits one event, waits
 * until the worker has claimed it, pauses 0-2 ms at random (so that its
 * commits fall at every point of the worker's ack, claim and wait) and
 * emits the next.  Prints
 * "rounds R late L": L counts waits that ran out although an event was
 * there to claim, each a notification that never came.  With
 * SLOW_COMMIT_US, the producer's commits pause up to that long after their
 * pre-commit step (public.test_slow_commit, test/c/slow_commit.c), while
 * they are not yet visible to the worker's claims.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

static PGconn *
connect_or_die(const char *conninfo)
{
	PGconn	   *conn = PQconnectdb(conninfo);

	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "connection failed: %s", PQerrorMessage(conn));
		exit(2);
	}
	return conn;
}

static PGresult *
run(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(conn));
		exit(2);
	}
	return res;
}

static void
produce(const char *conninfo, int rounds, const char *slow_commit_us)
{
	PGconn	   *conn = connect_or_die(conninfo);

	srand((unsigned) getpid());
	if (slow_commit_us != NULL)
	{
		char		sql[80];

		snprintf(sql, sizeof sql, "SELECT public.test_slow_commit(%d)", atoi(slow_commit_us));
		PQclear(run(conn, sql));
	}
	for (int i = 0; i < rounds; i++)
	{
		PGresult   *res = run(conn, "SELECT jobspy.emit_event('pingpong.ball', 'ball', 'b')");
		char		check[160];

		snprintf(check, sizeof check,
				 "SELECT attempts > 0 FROM jobspy.outbox_events WHERE id = %s", PQgetvalue(res, 0, 0));
		PQclear(res);
		for (;;)
		{
			res = run(conn, check);
			if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
				break;
			PQclear(res);
			usleep(500);
		}
		PQclear(res);
		usleep(rand() % 2000);
	}
	PQclear(run(conn, "SELECT jobspy.emit_event('pingpong.stop', 'stop', 's')"));
	PQfinish(conn);
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	int			rounds,
				late = 0,
				consumed = 0;
	pid_t		producer;
	int			status;

	if (argc < 3 || argc > 4 || (rounds = atoi(argv[2])) < 1)
	{
		fprintf(stderr, "usage: outbox_pingpong CONNINFO ROUNDS [SLOW_COMMIT_US]\n");
		return 2;
	}
	conn = connect_or_die(argv[1]);
	srand((unsigned) getpid() + 1);
	PQclear(run(conn, "LISTEN jobspy_outbox"));
	/* Start waiting before the producer starts. */
	PQclear(run(conn, "SELECT count(*) FROM jobspy.claim_events(100)"));

	producer = fork();
	if (producer == 0)
	{
		produce(argv[1], rounds, argc == 4 ? argv[3] : NULL);
		_exit(0);
	}

	for (bool stop = false, timed_out = false; !stop;)
	{
		PGresult   *res = run(conn, "SELECT id, topic, claim FROM jobspy.claim_events(100)");
		PGnotify   *note;
		int			n = PQntuples(res);

		if (n > 0 && timed_out)
			late++;
		timed_out = false;
		for (int i = 0; i < n; i++)
		{
			char		ack[160];

			stop |= strcmp(PQgetvalue(res, i, 1), "pingpong.stop") == 0;
			consumed++;
			usleep(rand() % 2000);
			snprintf(ack, sizeof ack, "SELECT jobspy.ack_events(ARRAY[%s]::bigint[], '%s')", PQgetvalue(res, i, 0),
					 PQgetvalue(res, i, 2));
			PQclear(run(conn, ack));
		}
		PQclear(res);
		if (n > 0 || stop)
			continue;

		/* Nothing to claim: wait for a notification, for 3 s at most. */
		PQconsumeInput(conn);
		if ((note = PQnotifies(conn)) == NULL)
		{
			fd_set		fds;
			struct timeval tv = {3, 0};

			FD_ZERO(&fds);
			FD_SET(PQsocket(conn), &fds);
			if (select(PQsocket(conn) + 1, &fds, NULL, NULL, &tv) == 0)
				timed_out = true;
			PQconsumeInput(conn);
		}
		else
			PQfreemem(note);
		while ((note = PQnotifies(conn)) != NULL)
			PQfreemem(note);
	}
	waitpid(producer, &status, 0);
	PQfinish(conn);
	printf("rounds %d late %d\n", consumed - 1, late);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
