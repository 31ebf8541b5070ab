/* index: see index.h. */
#include "indexer/index.h"
#include "core/message.h"
#include "core/mime.h"
#include "core/store.h"
#include "indexer/xapian-shim.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

G_DEFINE_QUARK (annals_index_error, annals_index_error)

#define KEY_INDEXED "annals:indexed"
#define KEY_NEXT_THREAD "annals:next-thread"
#define KEY_VERSION "annals:version"
/* Set in the commit that deletes an indexed document (a redaction):
 * its words are still in the database's freed blocks until the index is
 * compacted into a fresh copy, which clears it. */
#define KEY_SCRUB "annals:scrub"
#define INDEX_VERSION "1"
#define COMMIT_EVERY 10000
/* References kept per message: the newest 500 (the chain's end). */
#define MAX_REFERENCES 500
/* Body text indexed per message; the rest of a huge message is not. */
#define MAX_INDEXED_TEXT (1024 * 1024)

/* ANNALS_INDEX_TEST_KILL=STAGE: the tests' hook to die by SIGKILL at a
 * named stage (created, committed, built, swapped), where a kill at a
 * random moment would rarely land. */
static void
test_kill_point (const char *stage)
{
  const char *at = g_getenv ("ANNALS_INDEX_TEST_KILL");
  if (at != NULL && strcmp (at, stage) == 0)
    raise (SIGKILL);
}

static gboolean
xerror (GError **error, char *message, const char *what)
{
  g_set_error (error, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_XAPIAN, "%s: %s", what, message ? message : "?");
  g_free (message);
  return FALSE;
}

void
annals_index_summary_clear (AnnalsIndexSummary *s)
{
  g_free (s->list);
  g_free (s->thread);
  g_free (s->message_id);
  g_free (s->parent);
  g_free (s->from);
  g_free (s->subject);
  memset (s, 0, sizeof *s);
}

gboolean
annals_index_summary_parse (const char *data, gsize length, AnnalsIndexSummary *out)
{
  memset (out, 0, sizeof *out);
  g_autofree char *copy = g_strndup (data, length);
  g_auto (GStrv) f = g_strsplit (copy, "\t", 9);
  if (g_strv_length (f) != 9)
    return FALSE;
  out->list = g_strdup (f[0]);
  out->number = g_ascii_strtoull (f[1], NULL, 10);
  out->date = g_ascii_strtoll (f[2], NULL, 10);
  out->receipt = g_ascii_strtoll (f[3], NULL, 10);
  out->thread = g_strdup (f[4]);
  out->message_id = g_strdup (f[5]);
  out->parent = g_strdup (f[6]);
  out->from = g_strdup (f[7]);
  out->subject = g_strdup (f[8]);
  return TRUE;
}

/* Tabs and newlines cannot appear in summary fields. */
static void
append_field (GString *s, const char *v)
{
  for (const char *p = v ? v : ""; *p; p++)
    g_string_append_c (s, *p == '\t' || *p == '\n' || *p == '\r' ? ' ' : *p);
}

typedef struct {
  AnnalsXdb *db;
  const char *list;
  GHashTable *cache; /* msgid key -> thread id (this run's writes) */
} Indexer;

static char *
mid_key (const char *message_id)
{
  g_autofree char *h = g_compute_checksum_for_string (G_CHECKSUM_SHA256, message_id, -1);
  return g_strdup_printf ("t:%.32s", h);
}

/* The surviving thread id for tid (merged threads leave aliases). */
static char *
resolve (Indexer *ix, const char *tid)
{
  char *cur = g_strdup (tid);
  for (int i = 0; i < 64; i++) {
    g_autofree char *key = g_strdup_printf ("a:%s", cur);
    char *next = annals_xdb_get_metadata (ix->db, key);
    if (next == NULL)
      break;
    g_free (cur);
    cur = next;
  }
  return cur;
}

static char *
thread_of (Indexer *ix, const char *message_id)
{
  g_autofree char *key = mid_key (message_id);
  /* This run's assignments are cached: most lookups are of a thread just
   * seen, and the database lookup is the expensive part of threading. */
  const char *cached = g_hash_table_lookup (ix->cache, key);
  g_autofree char *tid = cached ? g_strdup (cached) : annals_xdb_get_metadata (ix->db, key);
  if (tid == NULL)
    return NULL;
  return resolve (ix, tid);
}

typedef struct {
  Indexer *ix;
  const char *to;
  const char *from_term;
  GError **error;
  gboolean ok;
} Retag;

static gboolean
retag_one (guint64 docid, gpointer data)
{
  Retag *r = data;
  char *err = NULL;
  AnnalsXdoc *doc = annals_xdb_get (r->ix->db, docid, &err);
  if (doc == NULL) {
    g_free (err);
    return TRUE;
  }
  g_autofree char *to_term = g_strconcat ("G", r->to, NULL);
  annals_xdoc_remove_term (doc, r->from_term);
  annals_xdoc_add_term (doc, to_term);
  annals_xdoc_set_string (doc, ANNALS_XSLOT_THREAD, r->to);
  /* The summary holds the thread id too. */
  gsize len;
  g_autofree char *data_str = annals_xdoc_get_data (doc, &len);
  AnnalsIndexSummary s;
  if (annals_index_summary_parse (data_str, len, &s)) {
    g_free (s.thread);
    s.thread = g_strdup (r->to);
    GString *d = g_string_new (NULL);
    g_string_append_printf (d, "%s\t%" G_GUINT64_FORMAT "\t%" G_GINT64_FORMAT "\t%" G_GINT64_FORMAT "\t%s\t%s\t%s\t%s\t%s",
                            s.list, s.number, s.date, s.receipt, s.thread, s.message_id, s.parent, s.from, s.subject);
    annals_xdoc_set_data (doc, d->str, d->len);
    g_string_free (d, TRUE);
    annals_index_summary_clear (&s);
  }
  gboolean ok = annals_xdb_replace (r->ix->db, docid, doc, &err);
  annals_xdoc_free (doc);
  if (!ok) {
    r->ok = xerror (r->error, err, "cannot merge threads");
    return FALSE;
  }
  return TRUE;
}

/* Merges thread from into thread to (documents and ghosts). */
static gboolean
merge_threads (Indexer *ix, const char *to, const char *from, GError **error)
{
  char *err = NULL;
  g_autofree char *alias = g_strdup_printf ("a:%s", from);
  if (!annals_xdb_set_metadata (ix->db, alias, to, &err))
    return xerror (error, err, "cannot merge threads");
  g_autofree char *term = g_strconcat ("G", from, NULL);
  Retag r = { ix, to, term, error, TRUE };
  if (!annals_xdb_each_with_term (ix->db, term, retag_one, &r, &err))
    return xerror (error, err, "cannot merge threads");
  return r.ok;
}

static gboolean
numeric_less (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  return la != lb ? la < lb : strcmp (a, b) < 0;
}

/* The thread for a message with these ids (its own first), creating,
 * joining or merging threads; records every id as in it. */
static char *
assign_thread (Indexer *ix, GPtrArray *ids, GError **error)
{
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  char *best = NULL;
  for (guint i = 0; i < ids->len; i++) {
    char *t = thread_of (ix, ids->pdata[i]);
    if (t == NULL)
      continue;
    g_ptr_array_add (found, t);
    if (best == NULL || numeric_less (t, best))
      best = t;
  }
  char *err = NULL;
  g_autofree char *tid = NULL;
  if (best == NULL) {
    g_autofree char *next = annals_xdb_get_metadata (ix->db, KEY_NEXT_THREAD);
    guint64 n = next ? g_ascii_strtoull (next, NULL, 10) : 1;
    tid = g_strdup_printf ("%" G_GUINT64_FORMAT, n);
    g_autofree char *after = g_strdup_printf ("%" G_GUINT64_FORMAT, n + 1);
    if (!annals_xdb_set_metadata (ix->db, KEY_NEXT_THREAD, after, &err)) {
      xerror (error, err, "cannot record a thread");
      return NULL;
    }
  } else {
    tid = g_strdup (best);
    for (guint i = 0; i < found->len; i++)
      if (strcmp (found->pdata[i], tid) != 0) {
        /* Several ids can name the same other thread: merge it once. */
        g_autofree char *again = resolve (ix, found->pdata[i]);
        if (strcmp (again, tid) != 0 && !merge_threads (ix, tid, again, error))
          return NULL;
      }
  }
  for (guint i = 0; i < ids->len; i++) {
    char *key = mid_key (ids->pdata[i]);
    const char *cached = g_hash_table_lookup (ix->cache, key);
    g_autofree char *cur = cached ? g_strdup (cached) : annals_xdb_get_metadata (ix->db, key);
    if (cur != NULL && strcmp (cur, tid) == 0) {
      if (cached == NULL)
        g_hash_table_insert (ix->cache, key, g_strdup (tid));
      else
        g_free (key);
      continue;
    }
    if (!annals_xdb_set_metadata (ix->db, key, tid, &err)) {
      g_free (key);
      xerror (error, err, "cannot record a thread");
      return NULL;
    }
    g_hash_table_insert (ix->cache, key, g_strdup (tid));
  }
  return g_steal_pointer (&tid);
}

/* The list's id inside List-Id's angle brackets, lowercased. */
static char *
list_id_term (const char *list_id)
{
  if (list_id == NULL)
    return NULL;
  const char *lt = strrchr (list_id, '<');
  const char *gt = lt ? strchr (lt, '>') : NULL;
  g_autofree char *id = lt && gt ? g_strndup (lt + 1, (gsize) (gt - lt - 1)) : g_strdup (list_id);
  g_strstrip (id);
  if (*id == '\0')
    return NULL;
  g_autofree char *low = g_utf8_strdown (id, -1);
  return g_strconcat ("XL", low, NULL);
}

char *
annals_index_message_id_term (const char *message_id)
{
  if (strlen (message_id) < 200)
    return g_strconcat ("Q", message_id, NULL);
  g_autofree char *h = g_compute_checksum_for_string (G_CHECKSUM_SHA256, message_id, -1);
  return g_strconcat ("Qsha256:", h, NULL);
}

static void
index_folded (AnnalsXdoc *doc, const char *text, const char *prefix, gboolean positions)
{
  if (text == NULL || *text == '\0')
    return;
  g_autofree char *folded = annals_mime_fold_accents (text);
  annals_xdoc_index_text (doc, folded, prefix, positions);
}

/* A message made ready for the index by a worker thread: everything but
 * its thread, which needs the database and so the main thread. */
typedef struct {
  guint64 number;
  AnnalsStoreRecordType type;
  guint64 redaction_target;
  AnnalsXdoc *doc;
  GPtrArray *ids;        /* its Message-ID, then those it names */
  char *summary_head;    /* "list\tnumber\tdate\treceipt\t" */
  char *summary_tail;    /* "\tmessage-id\tparent\tfrom\tsubject" */
  gsize bytes;
  GError *error;
  gboolean done;
} Prepared;

static void
prepared_clear (Prepared *p)
{
  if (p->doc)
    annals_xdoc_free (p->doc);
  if (p->ids)
    g_ptr_array_unref (p->ids);
  g_free (p->summary_head);
  g_free (p->summary_tail);
  g_clear_error (&p->error);
  memset (p, 0, sizeof *p);
}

static gboolean
prepare_message (Prepared *out, AnnalsStore *store, const char *list, GError **error)
{
  guint64 number = out->number;
  g_autoptr (GError) local = NULL;
  g_autoptr (GBytes) raw = annals_store_read (store, number, NULL, &local);
  g_autoptr (AnnalsStoreMeta) m = raw ? annals_store_read_meta (store, number, &local) : NULL;
  if (m == NULL) {
    g_set_error (error, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_STORE, "message %" G_GUINT64_FORMAT ": %s", number,
                 local->message);
    return FALSE;
  }
  gsize len;
  const guint8 *data = g_bytes_get_data (raw, &len);
  out->bytes = len;

  /* Thread ids: itself, then its references (newest 500), in-reply-to. */
  out->ids = g_ptr_array_new_with_free_func (g_free);
  /* A later copy of a reused Message-ID does not take the id's thread:
   * the id belongs to its first copy, and a sender who reuses it must
   * not join (or merge) that thread by doing so. */
  if (!(m->flags & ANNALS_STORE_FLAG_REUSED_ID))
    g_ptr_array_add (out->ids, g_strdup (m->message_id));
  const char *parent = NULL;
  g_auto (GStrv) refs = m->references ? g_strsplit (m->references, " ", -1) : NULL;
  guint nrefs = refs ? g_strv_length (refs) : 0;
  for (guint i = nrefs > MAX_REFERENCES ? nrefs - MAX_REFERENCES : 0; i < nrefs; i++)
    if (*refs[i] != '\0' && strcmp (refs[i], m->message_id) != 0) {
      g_ptr_array_add (out->ids, g_strdup (refs[i]));
      parent = refs[i];
    }
  if (m->in_reply_to != NULL && strcmp (m->in_reply_to, m->message_id) != 0) {
    g_ptr_array_add (out->ids, g_strdup (m->in_reply_to));
    parent = m->in_reply_to;
  }

  AnnalsXdoc *doc = annals_xdoc_new ();
  out->doc = doc;
  index_folded (doc, m->subject, "S", TRUE);
  index_folded (doc, m->from, "A", TRUE);
  index_folded (doc, m->to, "XT", TRUE);
  index_folded (doc, m->cc, "XC", TRUE);
  g_autoptr (GPtrArray) parts = annals_mime_parts (data, len);
  g_autoptr (GString) fresh = g_string_new (NULL);
  g_autoptr (GString) quoted = g_string_new (NULL);
  gboolean have_plain = FALSE;
  for (guint i = 0; i < parts->len; i++) {
    AnnalsMimePart *p = parts->pdata[i];
    if (p->text != NULL && !p->from_html)
      have_plain = TRUE;
  }
  for (guint i = 0; i < parts->len; i++) {
    AnnalsMimePart *p = parts->pdata[i];
    if (p->filename != NULL)
      index_folded (doc, p->filename, "XN", TRUE);
    /* An HTML alternative of a plain part says the same again. */
    if (p->text == NULL || (p->from_html && have_plain) || fresh->len + quoted->len > MAX_INDEXED_TEXT)
      continue;
    annals_mime_split_quoted (p->text, fresh, quoted);
  }
  if (fresh->len > MAX_INDEXED_TEXT)
    g_string_truncate (fresh, MAX_INDEXED_TEXT);
  index_folded (doc, fresh->str, "", TRUE);
  /* Quoted text: no positions (no phrases there), a third of the cost. */
  index_folded (doc, quoted->str, "XQ", FALSE);

  g_autofree char *qterm = annals_index_message_id_term (m->message_id);
  annals_xdoc_add_term (doc, qterm);
  g_autofree char *lterm = list_id_term (m->list_id);
  if (lterm)
    annals_xdoc_add_term (doc, lterm);
  g_autofree char *kterm = g_strconcat ("K", list, NULL);
  annals_xdoc_add_term (doc, kterm);
  gint64 date = m->date != ANNALS_NO_DATE ? m->date : m->receipt;
  /* A Date: more than a day after the receipt is the sender's clock, not
   * when it was sent: sorting by it would pin the message on top of its
   * list for years.  The sort value is then the receipt; the summary
   * keeps the claim. */
  gint64 sort_date = date > m->receipt + ANNALS_INDEX_DATE_SLACK ? m->receipt : date;
  annals_xdoc_set_number (doc, ANNALS_XSLOT_DATE, (double) sort_date);
  annals_xdoc_set_number (doc, ANNALS_XSLOT_RECEIPT, (double) m->receipt);
  out->summary_head = g_strdup_printf ("%s\t%" G_GUINT64_FORMAT "\t%" G_GINT64_FORMAT "\t%" G_GINT64_FORMAT "\t", list,
                                       number, date, m->receipt);
  GString *tail = g_string_new ("\t");
  append_field (tail, m->message_id);
  g_string_append_c (tail, '\t');
  append_field (tail, parent);
  g_string_append_c (tail, '\t');
  append_field (tail, m->from);
  g_string_append_c (tail, '\t');
  append_field (tail, m->subject);
  out->summary_tail = g_string_free (tail, FALSE);
  return TRUE;
}

/* Workers: each takes a store reader from the pool for the task. */
typedef struct {
  GAsyncQueue *readers;
  const char *list;
  GMutex lock;
  GCond cond;
} Workers;

typedef struct {
  Workers *w;
  Prepared *p;
} Task;

static void
prepare_task (gpointer data, gpointer user_data)
{
  Task *t = data;
  Workers *w = t->w;
  Prepared *p = t->p;
  AnnalsStore *store = g_async_queue_pop (w->readers);
  AnnalsStoreRecord r;
  if (!annals_store_read_record (store, p->number, &r, &p->error)) {
    /* reported by the main thread */
  } else if (r.type == ANNALS_STORE_RECORD_MESSAGE) {
    p->type = r.type;
    prepare_message (p, store, w->list, &p->error);
  } else {
    /* A redacted message leaves the index; so does the target of a notice. */
    p->type = r.type;
    p->redaction_target = p->number;
    AnnalsStoreRedaction red;
    if (r.type == ANNALS_STORE_RECORD_REDACTION && annals_store_read_redaction (store, p->number, &red, NULL)) {
      p->redaction_target = red.target;
      g_free (red.reason);
    }
  }
  g_async_queue_push (w->readers, store);
  g_mutex_lock (&w->lock);
  p->done = TRUE;
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
  g_free (t);
}

/* Main thread: threads the prepared message and writes it. */
static gboolean
commit_prepared (Indexer *ix, Prepared *p, AnnalsIndexStats *stats, GError **error)
{
  char *err = NULL;
  if (p->type != ANNALS_STORE_RECORD_MESSAGE) {
    gboolean existed;
    if (!annals_xdb_delete (ix->db, p->redaction_target + 1, &existed, &err))
      return xerror (error, err, "cannot remove a document");
    stats->removed++;
    /* Recorded with the deletion, so a kill before the scrub cannot
     * forget it. */
    return !existed || annals_xdb_set_metadata (ix->db, KEY_SCRUB, "1", &err)
           || xerror (error, err, "cannot remove a document");
  }
  g_autofree char *tid = assign_thread (ix, p->ids, error);
  if (tid == NULL)
    return FALSE;
  g_autofree char *gterm = g_strconcat ("G", tid, NULL);
  annals_xdoc_add_term (p->doc, gterm);
  annals_xdoc_set_string (p->doc, ANNALS_XSLOT_THREAD, tid);
  g_autofree char *summary = g_strconcat (p->summary_head, tid, p->summary_tail, NULL);
  annals_xdoc_set_data (p->doc, summary, strlen (summary));
  if (!annals_xdb_replace (ix->db, p->number + 1, p->doc, &err))
    return xerror (error, err, "cannot add a document");
  stats->indexed++;
  stats->bytes += p->bytes;
  return TRUE;
}

static int
rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  return remove (path);
}

/* Commits the index with the number of store entries it covers. */
static gboolean
mark_indexed (Indexer *ix, guint64 covered, GError **error)
{
  char *err = NULL;
  g_autofree char *mark = g_strdup_printf ("%" G_GUINT64_FORMAT, covered);
  if (!annals_xdb_set_metadata (ix->db, KEY_INDEXED, mark, &err) || !annals_xdb_commit (ix->db, &err))
    return xerror (error, err, "cannot commit the index");
  test_kill_point ("committed");
  return TRUE;
}

/* Messages prepared ahead of the one being written. */
#define WINDOW 128

/* Brings the existing database index_dir up to date.  *damaged: it could
 * not be opened because it is not a whole database. */
static gboolean
update (const char *index_dir, const char *store_dir, const char *list, AnnalsIndexLimit limit, gpointer limit_ctx,
        AnnalsIndexProgress progress, gpointer ctx, AnnalsIndexStats *stats, gboolean *damaged, GError **error)
{
  g_autoptr (AnnalsStore) store = annals_store_open (store_dir, error);
  if (store == NULL)
    return FALSE;
  char *err = NULL;
  AnnalsXdbFailure why;
  Indexer ix = { annals_xdb_open_writable (index_dir, FALSE, &why, &err), list, NULL };
  if (ix.db == NULL) {
    *damaged = why == ANNALS_XDB_DAMAGED;
    return xerror (error, err,
                   why == ANNALS_XDB_LOCKED ? "cannot open the index (another 'annals index' running?)"
                                            : "cannot open the index");
  }
  g_autoptr (GHashTable) cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  ix.cache = cache;
  g_autofree char *done = annals_xdb_get_metadata (ix.db, KEY_INDEXED);
  guint64 start = done ? g_ascii_strtoull (done, NULL, 10) : 0;
  gboolean finished = limit == NULL;
  guint64 count = limit ? limit (limit_ctx, start, &finished) : annals_store_count (store);
  gboolean ok = annals_xdb_set_metadata (ix.db, KEY_VERSION, INDEX_VERSION, &err);
  if (!ok)
    xerror (error, err, "cannot write the index");

  /* ANNALS_INDEX_COMMIT_EVERY: smaller batches, for the tests that kill
   * an indexer half-way. */
  const char *every = g_getenv ("ANNALS_INDEX_COMMIT_EVERY");
  guint64 commit_every = every ? MAX (g_ascii_strtoull (every, NULL, 10), 1) : COMMIT_EVERY;
  /* Decoding and term generation run on every core; threads and writes
   * stay on this one, in store order. */
  guint cores = MAX (g_get_num_processors (), 1);
  Workers w = { g_async_queue_new_full ((GDestroyNotify) annals_store_free), list };
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  for (guint i = 0; i < cores; i++) {
    AnnalsStore *r = annals_store_open (store_dir, NULL);
    if (r != NULL)
      g_async_queue_push (w.readers, r);
  }
  GThreadPool *pool = g_thread_pool_new (prepare_task, NULL, (gint) cores, FALSE, NULL);
  Prepared *ring = g_new0 (Prepared, WINDOW);
  guint64 submitted = start;
  guint64 marked = start;
  for (guint64 n = start; ok; n++) {
    /* Following a writer: wait for its next batch. */
    while (n >= count && !finished)
      count = limit (limit_ctx, n, &finished);
    if (n >= count)
      break;
    while (submitted < count && submitted < n + WINDOW) {
      Prepared *p = &ring[submitted % WINDOW];
      prepared_clear (p);
      p->number = submitted;
      Task *t = g_new (Task, 1);
      t->w = &w;
      t->p = p;
      g_thread_pool_push (pool, t, NULL);
      submitted++;
    }
    Prepared *p = &ring[n % WINDOW];
    g_mutex_lock (&w.lock);
    while (!p->done)
      g_cond_wait (&w.cond, &w.lock);
    g_mutex_unlock (&w.lock);
    if (p->error != NULL) {
      g_set_error (error, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_STORE, "entry %" G_GUINT64_FORMAT ": %s", n,
                   p->error->message);
      ok = FALSE;
      break;
    }
    ok = commit_prepared (&ix, p, stats, error);
    stats->total = n + 1;
    if (ok && (n + 1) % commit_every == 0) {
      ok = mark_indexed (&ix, n + 1, error);
      marked = n + 1;
    }
    if (progress && (n & 255) == 0)
      progress (ctx, stats, count);
  }
  /* Let the tasks in flight finish before their slots go. */
  g_thread_pool_free (pool, FALSE, TRUE);
  for (guint i = 0; i < WINDOW; i++)
    prepared_clear (&ring[i]);
  g_free (ring);
  g_async_queue_unref (w.readers);
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
  if (ok && stats->total > marked)
    ok = mark_indexed (&ix, stats->total, error);
  else if (ok) {
    stats->total = MAX (stats->total, start);
    ok = annals_xdb_commit (ix.db, &err) || xerror (error, err, "cannot commit the index");
  }
  g_autofree char *scrub = annals_xdb_get_metadata (ix.db, KEY_SCRUB);
  stats->scrub_pending = scrub != NULL;
  annals_xdb_close (ix.db);
  if (progress)
    progress (ctx, stats, count);
  return ok;
}

static void
remove_tree (const char *path)
{
  nftw (path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static gboolean
io_error (GError **error, const char *what, const char *path)
{
  int e = errno;
  g_set_error (error, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_XAPIAN, "cannot %s '%s': %s", what, path, g_strerror (e));
  return FALSE;
}

/* Whether index_dir holds a database: Xapian writes its revision file
 * (iamglass) last when it creates one. */
static gboolean
has_revision (const char *index_dir)
{
  g_autofree char *rev = g_build_filename (index_dir, "iamglass", NULL);
  return g_file_test (rev, G_FILE_TEST_EXISTS);
}

/* The lock every writer of the list's index holds: under it, leftovers
 * of killed runs (index.new, index.old) are nobody's work. */
static int
lock_index (const char *list_dir, const char *list, GError **error)
{
  g_autofree char *path = g_build_filename (list_dir, "index.lock", NULL);
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    io_error (error, "open", path);
    return -1;
  }
  while (flock (fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR)
      continue;
    if (errno == EWOULDBLOCK)
      g_set_error (error, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_LOCKED,
                   "the index of '%s' is being written by another 'annals index' or ingest ('%s' is locked); "
                   "run 'annals index %s' once it is done",
                   list, path, list);
    else
      io_error (error, "lock", path);
    close (fd);
    return -1;
  }
  return fd;
}

static gboolean
sync_dir (const char *dir, GError **error)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return io_error (error, "open", dir);
  gboolean ok = fsync (fd) == 0 || io_error (error, "sync", dir);
  close (fd);
  return ok;
}

/* Puts the whole database fresh in place of index_dir, atomically: the
 * two are exchanged (readers see the old or the new, never neither),
 * then the old copy goes. */
static gboolean
install (const char *fresh, const char *index_dir, const char *list_dir, GError **error)
{
  if (renameat2 (AT_FDCWD, fresh, AT_FDCWD, index_dir, RENAME_EXCHANGE) == 0) {
    test_kill_point ("swapped");
    remove_tree (fresh);
  } else if (errno == ENOENT && !g_file_test (index_dir, G_FILE_TEST_EXISTS)) {
    if (g_rename (fresh, index_dir) != 0)
      return io_error (error, "install the index as", index_dir);
  } else if (errno == EINVAL || errno == ENOSYS) {
    /* A file system without exchange: a kill between the renames leaves
     * no index/, which the next run builds again. */
    g_autofree char *old = g_build_filename (list_dir, "index.old", NULL);
    if (g_rename (index_dir, old) != 0)
      return io_error (error, "replace", index_dir);
    if (g_rename (fresh, index_dir) != 0)
      return io_error (error, "install the index as", index_dir);
    remove_tree (old);
  } else {
    return io_error (error, "install the index as", index_dir);
  }
  return sync_dir (list_dir, error);
}

/* A new, empty database at path, committed once (so it has its
 * revision file), for install(). */
static gboolean
create_empty (const char *path, GError **error)
{
  char *err = NULL;
  AnnalsXdb *db = annals_xdb_open_writable (path, TRUE, NULL, &err);
  if (db == NULL)
    return xerror (error, err, "cannot create the index");
  gboolean ok = (annals_xdb_set_metadata (db, KEY_VERSION, INDEX_VERSION, &err) && annals_xdb_commit (db, &err))
                || xerror (error, err, "cannot create the index");
  annals_xdb_close (db);
  test_kill_point ("created");
  return ok;
}

/* After a redaction: the index compacted into a fresh copy (live entries
 * only, ids kept, threads untouched), swapped in.  A kill before the swap
 * leaves the old index, still marked, for the next run. */
static gboolean
scrub (const char *index_dir, const char *fresh, const char *list_dir, GError **error)
{
  char *err = NULL;
  const char *paths[] = { index_dir };
  AnnalsXdb *db = annals_xdb_open_readonly (paths, 1, &err);
  if (db == NULL)
    return xerror (error, err, "cannot compact the index");
  gboolean ok = annals_xdb_compact (db, fresh, &err) || xerror (error, err, "cannot compact the index");
  annals_xdb_close (db);
  if (!ok)
    return FALSE;
  db = annals_xdb_open_writable (fresh, FALSE, NULL, &err);
  if (db == NULL)
    return xerror (error, err, "cannot compact the index");
  ok = (annals_xdb_set_metadata (db, KEY_SCRUB, "", &err) && annals_xdb_commit (db, &err))
       || xerror (error, err, "cannot compact the index");
  annals_xdb_close (db);
  test_kill_point ("built");
  return ok && install (fresh, index_dir, list_dir, error);
}

/* The incremental update: the index is created beside and renamed in
 * when missing, and created again when half-made or damaged. */
static gboolean
update_in_place (const char *index_dir, const char *fresh, const char *store_dir, const char *list_dir,
                 const char *list, AnnalsIndexLimit limit, gpointer limit_ctx, AnnalsIndexProgress progress,
                 gpointer ctx, AnnalsIndexStats *stats, GError **error)
{
  gboolean damaged = FALSE;
  /* A folder without a revision: a kill inside Xapian's creation of the
   * database (before indexes were created beside and renamed). */
  if (g_file_test (index_dir, G_FILE_TEST_EXISTS) && !has_revision (index_dir)) {
    stats->recreated = TRUE;
    remove_tree (index_dir);
  }
  if (!g_file_test (index_dir, G_FILE_TEST_EXISTS)
      && (!create_empty (fresh, error) || !install (fresh, index_dir, list_dir, error)))
    return FALSE;
  g_autoptr (GError) local = NULL;
  if (!update (index_dir, store_dir, list, limit, limit_ctx, progress, ctx, stats, &damaged, &local)) {
    if (!damaged) {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
    /* Damaged beyond opening: the index is derived, so build it again. */
    stats->recreated = TRUE;
    remove_tree (index_dir);
    if (!create_empty (fresh, error) || !install (fresh, index_dir, list_dir, error)
        || !update (index_dir, store_dir, list, limit, limit_ctx, progress, ctx, stats, &damaged, error))
      return FALSE;
  }
  return TRUE;
}

/* Everything a writer does, under the lock. */
static gboolean
write_locked (const char *list_dir, const char *list, gboolean rebuild, AnnalsIndexLimit limit, gpointer limit_ctx,
              AnnalsIndexProgress progress, gpointer ctx, AnnalsIndexStats *stats, GError **error)
{
  g_autofree char *store_dir = g_build_filename (list_dir, "store", NULL);
  g_autofree char *index_dir = g_build_filename (list_dir, "index", NULL);
  g_autofree char *fresh = g_build_filename (list_dir, "index.new", NULL);
  g_autofree char *old = g_build_filename (list_dir, "index.old", NULL);
  remove_tree (fresh);
  remove_tree (old);
  gboolean damaged = FALSE;
  if (rebuild) {
    /* Built beside the old index and swapped: searches go on meanwhile. */
    if (!create_empty (fresh, error)
        || !update (fresh, store_dir, list, limit, limit_ctx, progress, ctx, stats, &damaged, error))
      return FALSE;
    test_kill_point ("built");
    if (!install (fresh, index_dir, list_dir, error))
      return FALSE;
  } else {
    if (!update_in_place (index_dir, fresh, store_dir, list_dir, list, limit, limit_ctx, progress, ctx, stats, error))
      return FALSE;
  }
  /* A rebuild can meet a redaction the store has not finished (the
   * notice is in, the message not yet erased) and delete a document too. */
  if (stats->scrub_pending) {
    if (!scrub (index_dir, fresh, list_dir, error))
      return FALSE;
    stats->scrub_pending = FALSE;
    stats->scrubbed = TRUE;
  }
  return TRUE;
}

static gboolean
write_index (const char *list_dir, const char *list, gboolean rebuild, AnnalsIndexLimit limit, gpointer limit_ctx,
             AnnalsIndexProgress progress, gpointer ctx, AnnalsIndexStats *stats, GError **error)
{
  memset (stats, 0, sizeof *stats);
  int lock = lock_index (list_dir, list, error);
  if (lock < 0)
    return FALSE;
  gboolean ok = write_locked (list_dir, list, rebuild, limit, limit_ctx, progress, ctx, stats, error);
  close (lock);
  return ok;
}

gboolean
annals_index_update (const char *list_dir, const char *list, gboolean rebuild, AnnalsIndexProgress progress,
                     gpointer ctx, AnnalsIndexStats *stats, GError **error)
{
  return write_index (list_dir, list, rebuild, NULL, NULL, progress, ctx, stats, error);
}

gboolean
annals_index_follow (const char *list_dir, const char *list, AnnalsIndexLimit limit, gpointer limit_ctx,
                     AnnalsIndexStats *stats, GError **error)
{
  return write_index (list_dir, list, FALSE, limit, limit_ctx, NULL, NULL, stats, error);
}

char *
annals_index_reader_path (const char *list_dir, GError **error)
{
  g_autofree char *index_dir = g_build_filename (list_dir, "index", NULL);
  if (!g_file_test (index_dir, G_FILE_TEST_IS_DIR))
    return NULL;
  if (!has_revision (index_dir)) {
    g_autofree char *list = g_path_get_basename (list_dir);
    g_set_error (error, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_NOT_READY,
                 "the index of '%s' is not ready (half-made by an index run that was killed); "
                 "'annals index %s' rebuilds it from the store",
                 list, list);
    return NULL;
  }
  return g_steal_pointer (&index_dir);
}
