/*
 * core_state.c: the state files that keep shared memory across a clean
 * restart, written and read one way for every module.
 *
 * Layout: magic, format version (uint32 each), the module's records, and
 * the magic again as a trailer, so that a file cut short is noticed.  The
 * postmaster writes <path>.tmp and renames it with durable_rename() (a
 * crash mid-write leaves the previous state, or none, never half a file);
 * the process that creates the shared memory reads the file and removes
 * it, so that a crash later never loads stale state.  Errors are logged,
 * never raised: a restart must not fail for want of saved counters.
 *
 * Only the postmaster and the startup of shared memory use these: there
 * is no concurrent access and no lock.
 */
#include "postgres.h"

#include <unistd.h>

#include "storage/fd.h"

#include "core.h"

struct JobspyStateFile
{
	FILE	   *file;
	char		path[MAXPGPATH];
	char		tmp[MAXPGPATH];
	uint32		magic;
	bool		ok;
};

JobspyStateFile *
jobspy_state_write_open(const char *path, uint32 magic, uint32 version)
{
	JobspyStateFile *f = palloc0(sizeof(JobspyStateFile));

	strlcpy(f->path, path, MAXPGPATH);
	snprintf(f->tmp, MAXPGPATH, "%s.tmp", path);
	f->magic = magic;
	f->file = AllocateFile(f->tmp, PG_BINARY_W);
	f->ok = (f->file != NULL);
	jobspy_state_write(f, &magic, sizeof(magic));
	jobspy_state_write(f, &version, sizeof(version));
	return f;
}

void
jobspy_state_write(JobspyStateFile *f, const void *data, size_t size)
{
	if (f->ok && fwrite(data, size, 1, f->file) != 1)
		f->ok = false;
}

/* Trailer, close, rename into place; on any failure log it and leave no file. */
void
jobspy_state_write_close(JobspyStateFile *f)
{
	jobspy_state_write(f, &f->magic, sizeof(f->magic));
	if (f->file && FreeFile(f->file) != 0)
		f->ok = false;
	if (f->ok)
		(void) durable_rename(f->tmp, f->path, LOG);
	else
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", f->tmp)));
		unlink(f->tmp);
	}
	pfree(f);
}

/*
 * The saved state at path, positioned after its header, or NULL when there
 * is none to load (no file, or one of another format: logged and removed).
 */
JobspyStateFile *
jobspy_state_read_open(const char *path, uint32 magic, uint32 version, const char *what)
{
	JobspyStateFile *f;
	uint32		head[2] = {0, 0};

	FILE	   *file = AllocateFile(path, PG_BINARY_R);

	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path)));
		return NULL;
	}
	if (fread(head, sizeof(head), 1, file) != 1 || head[0] != magic || head[1] != version)
	{
		FreeFile(file);
		unlink(path);
		if (head[0] == magic)
			ereport(LOG,
					(errmsg("ignoring %s file \"%s\" of format version %u", what, path, head[1]),
					 errdetail("This server reads format version %u; the saved state starts empty.",
							   version)));
		else
			ereport(LOG,
					(errmsg("ignoring damaged %s file \"%s\"", what, path)));
		return NULL;
	}
	f = palloc0(sizeof(JobspyStateFile));
	f->file = file;
	strlcpy(f->path, path, MAXPGPATH);
	f->magic = magic;
	f->ok = true;
	return f;
}

bool
jobspy_state_read(JobspyStateFile *f, void *data, size_t size)
{
	if (f->ok && fread(data, size, 1, f->file) != 1)
		f->ok = false;
	return f->ok;
}

void
jobspy_state_damaged(JobspyStateFile *f)
{
	f->ok = false;
}

/*
 * Check the trailer, close and remove the file.  False when the file was
 * damaged (logged, naming what it held): the caller empties what it loaded.
 */
bool
jobspy_state_read_close(JobspyStateFile *f, const char *what)
{
	uint32		trailer = 0;
	bool		ok;

	if (jobspy_state_read(f, &trailer, sizeof(trailer)) && trailer != f->magic)
		f->ok = false;
	ok = f->ok;
	FreeFile(f->file);
	unlink(f->path);
	if (!ok)
		ereport(LOG,
				(errmsg("ignoring damaged %s file \"%s\"", what, f->path)));
	pfree(f);
	return ok;
}

/* What follows a state table's magic and version. */
typedef struct StateTableHeader
{
	uint32		entry_size;
	uint32		pad;
	int64		count;
} StateTableHeader;

void
jobspy_state_save_table(const JobspyStateTable *t, const void *entries, Size n)
{
	StateTableHeader h = {(uint32) t->entry_size, 0, 0};
	JobspyStateFile *f;

	for (Size i = 0; i < n; i++)
		if (t->used((const char *) entries + i * t->entry_size))
			h.count++;
	f = jobspy_state_write_open(t->path, t->magic, t->version);
	jobspy_state_write(f, &h, sizeof(h));
	for (Size i = 0; i < n; i++)
		if (t->used((const char *) entries + i * t->entry_size))
			jobspy_state_write(f, (const char *) entries + i * t->entry_size, t->entry_size);
	jobspy_state_write_close(f);
}

bool
jobspy_state_load_table(const JobspyStateTable *t, int64 *lost)
{
	JobspyStateFile *f = jobspy_state_read_open(t->path, t->magic, t->version, t->what);
	StateTableHeader h = {0};
	void	   *entry = palloc(t->entry_size);

	*lost = 0;
	if (f == NULL)
		return true;
	if (!jobspy_state_read(f, &h, sizeof(h)) || h.entry_size != t->entry_size || h.count < 0)
		jobspy_state_damaged(f);
	for (int64 n = 0; n < h.count && jobspy_state_read(f, entry, t->entry_size); n++)
		if (!t->put(entry))
			(*lost)++;
	pfree(entry);
	return jobspy_state_read_close(f, t->what);
}
