/*
 * outbox_worker: a consumer of the outbox for bench/run's
 * BENCH_OUTBOX_WORKER=1, as docs/webhooks.md describes one: LISTEN, claim
 * up to 100 events and ack them in one statement, and when a claim finds
 * nothing wait for a notification (1 s at most).  Runs until SIGTERM, then
 * prints what it did: events consumed, claims that found nothing (each
 * followed by a wait), and notifications received.
 *
 *   outbox_worker CONNINFO
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/select.h>

#include "libpq-fe.h"

static volatile sig_atomic_t stopping = 0;

static void
stop(int signo)
{
	stopping = 1;
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	long		consumed = 0,
				empty = 0,
				notified = 0;
	PGnotify   *note;

	if (argc != 2)
	{
		fprintf(stderr, "usage: outbox_worker CONNINFO\n");
		return 2;
	}
	signal(SIGTERM, stop);
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "outbox_worker: %s", PQerrorMessage(conn));
		return 2;
	}
	PQclear(PQexec(conn, "LISTEN jobspy_outbox"));
	while (!stopping)
	{
		PGresult   *res = PQexec(conn, "WITH c AS (SELECT id, claim FROM jobspy.claim_events(100)) "
								 "SELECT coalesce(sum(a.n), 0) FROM (SELECT jobspy.ack_events(array_agg(id), claim) AS n "
								 "FROM c GROUP BY claim) a");
		long		n;

		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "outbox_worker: %s", PQerrorMessage(conn));
			return 1;
		}
		n = atol(PQgetvalue(res, 0, 0));
		PQclear(res);
		consumed += n;
		if (n > 0)
			continue;
		empty++;
		PQconsumeInput(conn);
		if ((note = PQnotifies(conn)) == NULL)
		{
			fd_set		fds;
			struct timeval tv = {1, 0};

			FD_ZERO(&fds);
			FD_SET(PQsocket(conn), &fds);
			select(PQsocket(conn) + 1, &fds, NULL, NULL, &tv);
			PQconsumeInput(conn);
		}
		else
		{
			notified++;
			PQfreemem(note);
		}
		while ((note = PQnotifies(conn)) != NULL)
		{
			notified++;
			PQfreemem(note);
		}
	}
	PQfinish(conn);
	printf("outbox worker: %ld events consumed, %ld claims found nothing, %ld notifications\n",
		   consumed, empty, notified);
	return 0;
}
