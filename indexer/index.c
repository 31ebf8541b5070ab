/* index: see index.h. */
#include "indexer/index.h"
#include "core/config.h"
#include "core/fsutil.h"
#include "core/message.h"
#include "core/mime.h"
#include "core/store.h"
#include "indexer/xapian-shim.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

G_DEFINE_QUARK (annals_index_error, annals_index_error)

#define KEY_INDEXED "annals:indexed"
#define KEY_NEXT_THREAD "annals:next-thread"
#define KEY_VERSION "annals:version"
/* Set in the commit that deletes an indexed document (a redaction):
 * its words are still in the database's freed blocks until the index is
 * compacted into a fresh copy, which clears it. */
#define KEY_SCRUB "annals:scrub"
/* In shard 0, set in the last commit of a bulk run (more than one
 * commit batch): the index is to be compacted into a fresh copy, which
 * clears it; a kill before the copy is in leaves it for the next
 * writer. */
#define KEY_COMPACT "annals:compact"
/* In every shard of a compacted copy: the store entries the index
 * covered when it was compacted. */
#define KEY_COMPACTED "annals:compacted"
/* In shard 0: how many shards the index has. */
#define KEY_SHARDS "annals:shards"
/* 4: quoted text as stems only.  3: shards and subject keys; 2 had one
 * or the other, 1 neither (read as they are, but rebuilt by the next
 * writer: doc/index-format.md). */
#define INDEX_VERSION "4"
#define INDEX_VERSION_NUMBER 4
/* A reply with no References or In-Reply-To joins the thread started
 * under its base subject only if that thread had a message received
 * this recently (doc/index-format.md). */
#define SUBJECT_WINDOW (28 * 86400)
/* Threads remembered per base subject (newest first), for mail that
 * arrives late, after a later thread took the subject over. */
#define SUBJECT_THREADS 16
/* index/shards: the shard count of an index of several shards. */
#define SHARDS_FILE "shards"
#define MAX_SHARDS ANNALS_CONFIG_INDEX_SHARDS_MAX
/* Operations queued to a shard's writer thread before the main thread
 * waits: bounds the documents held in memory. */
#define SHARD_QUEUE 256
/* Messages per commit.  Small batches keep Xapian's change buffer in
 * cache (a fifth less CPU than 10,000 and a fifth of the memory), but
 * each batch after the first leaves B-tree blocks half-full: a bulk run
 * is compacted at its end (BENCHMARKS.md, "Levers"). */
#define COMMIT_EVERY 1000
/* A run is compacted when it wrote more than one batch and at least
 * 1/COMPACT_SHARE of the index: the compaction rewrites the whole
 * index, about 1% of the CPU of indexing it. */
#define COMPACT_SHARE 10
/* References kept per message: the newest 500 (the chain's end). */
#define MAX_REFERENCES 500
/* Body text indexed per message; the rest of a huge message is not. */
#define MAX_INDEXED_TEXT (1024 * 1024)

/* ANNALS_INDEX_TEST_KILL=STAGE: the tests' hook to die by SIGKILL at a
 * named stage (created, committed, compacting, built, swapped), where a kill at a
 * random moment would rarely land. */
static void
test_kill_point (const char *stage)
{
  const char *at = g_getenv ("ANNALS_INDEX_TEST_KILL");
  if (at != NULL && strcmp (at, stage) == 0)
    raise (SIGKILL);
}

/* A failure of the shim as an index error: what failed, then Xapian's
 * words (message is freed). */
static gboolean
xerror (GError **error, AnnalsXstatus status, char *message, const char *what)
{
  AnnalsIndexError code = status == ANNALS_XSTATUS_LOCKED    ? ANNALS_INDEX_ERROR_LOCKED
                          : status == ANNALS_XSTATUS_CORRUPT ? ANNALS_INDEX_ERROR_CORRUPT
                                                             : ANNALS_INDEX_ERROR_XAPIAN;
  g_set_error (error, ANNALS_INDEX_ERROR, code, "%s: %s", what, message ? message : "?");
  g_free (message);
  return FALSE;
}

/* Metadata the index needs to go on: a read that fails stops the run (a
 * value taken as unset would restart the index or the thread ids). */
static gboolean
get_metadata (AnnalsXdb *db, const char *key, char **value, GError **error)
{
  char *err = NULL;
  AnnalsXstatus st = annals_xdb_get_metadata (db, key, value, &err);
  return st == ANNALS_XSTATUS_OK || xerror (error, st, err, "cannot read the index");
}

void
annals_index_summary_clear (AnnalsIndexSummary *s)
{
  g_free (s->list);
  g_free (s->thread);
  g_free (s->parent);
  annals_message_header_clear (&s->hdr);
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
  out->hdr.date = g_ascii_strtoll (f[2], NULL, 10);
  out->receipt = g_ascii_strtoll (f[3], NULL, 10);
  out->thread = g_strdup (f[4]);
  out->hdr.message_id = g_strdup (f[5]);
  out->parent = g_strdup (f[6]);
  out->hdr.from = g_strdup (f[7]);
  out->hdr.subject = g_strdup (f[8]);
  return TRUE;
}

/* Tabs and newlines cannot appear in summary fields. */
static void
append_field (GString *s, const char *v)
{
  for (const char *p = v ? v : ""; *p; p++)
    g_string_append_c (s, *p == '\t' || *p == '\n' || *p == '\r' ? ' ' : *p);
}

char *
annals_index_summary_encode (const AnnalsIndexSummary *s)
{
  GString *d = g_string_new (NULL);
  append_field (d, s->list);
  g_string_append_printf (d, "\t%" G_GUINT64_FORMAT "\t%" G_GINT64_FORMAT "\t%" G_GINT64_FORMAT "\t", s->number,
                          s->hdr.date, s->receipt);
  const char *const strings[] = { s->thread, s->hdr.message_id, s->parent, s->hdr.from, s->hdr.subject };
  for (guint i = 0; i < G_N_ELEMENTS (strings); i++) {
    if (i > 0)
      g_string_append_c (d, '\t');
    append_field (d, strings[i]);
  }
  return g_string_free (d, FALSE);
}

typedef struct _Shard Shard;

typedef struct {
  AnnalsXdb *db; /* shard 0: its documents and all the threading metadata */
  const char *list;
  GHashTable *cache; /* msgid key -> thread id (this run's writes) */
  Shard *shards;     /* shards 1.. (shards[0] unused): each its own writer thread */
  guint n_shards;
} Indexer;

/* SHA-256 of a string in hex. */
static void
sha256_hex (const char *s, char hex[65])
{
  guint8 digest[32];
  annals_store_sha256 ((const guint8 *) s, strlen (s), digest, hex);
}

char *
annals_index_thread_key (const char *message_id)
{
  char h[65];
  sha256_hex (message_id, h);
  return g_strdup_printf ("t:%.32s", h);
}

/* The surviving thread id for tid (merged threads leave aliases), or
 * NULL with error. */
static char *
resolve (Indexer *ix, const char *tid, GError **error)
{
  g_autofree char *cur = g_strdup (tid);
  for (int i = 0; i < 64; i++) {
    g_autofree char *key = g_strdup_printf ("a:%s", cur);
    char *next = NULL;
    if (!get_metadata (ix->db, key, &next, error))
      return NULL;
    if (next == NULL)
      break;
    g_free (cur);
    cur = next;
  }
  return g_steal_pointer (&cur);
}

/* The thread of message_id into *tid (NULL: none yet). */
static gboolean
thread_of (Indexer *ix, const char *message_id, char **tid, GError **error)
{
  g_autofree char *key = annals_index_thread_key (message_id);
  /* This run's assignments are cached: most lookups are of a thread just
   * seen, and the database lookup is the expensive part of threading. */
  const char *cached = g_hash_table_lookup (ix->cache, key);
  g_autofree char *found = cached ? g_strdup (cached) : NULL;
  if (cached == NULL && !get_metadata (ix->db, key, &found, error))
    return FALSE;
  *tid = found ? resolve (ix, found, error) : NULL;
  return found == NULL || *tid != NULL;
}

typedef struct {
  AnnalsXdb *db;
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
  AnnalsXdoc *doc = NULL;
  AnnalsXstatus st = annals_xdb_get (r->db, docid, &doc, &err);
  if (st == ANNALS_XSTATUS_NOT_FOUND) {
    g_free (err);
    return TRUE;
  }
  if (st != ANNALS_XSTATUS_OK) {
    r->ok = xerror (r->error, st, err, "cannot merge threads");
    return FALSE;
  }
  g_autofree char *to_term = g_strconcat ("G", r->to, NULL);
  annals_xdoc_remove_term (doc, r->from_term);
  annals_xdoc_add_term (doc, to_term);
  annals_xdoc_set_string (doc, ANNALS_XSLOT_THREAD, r->to);
  /* The summary holds the thread id too. */
  gsize len = 0;
  g_autofree char *data_str = NULL;
  st = annals_xdoc_get_data (doc, &data_str, &len, &err);
  if (st != ANNALS_XSTATUS_OK) {
    annals_xdoc_free (doc);
    r->ok = xerror (r->error, st, err, "cannot merge threads");
    return FALSE;
  }
  g_auto (AnnalsIndexSummary) s = { 0 };
  if (annals_index_summary_parse (data_str, len, &s)) {
    g_free (s.thread);
    s.thread = g_strdup (r->to);
    g_autofree char *d = annals_index_summary_encode (&s);
    annals_xdoc_set_data (doc, d, strlen (d));
  }
  st = annals_xdb_replace (r->db, docid, doc, &err);
  annals_xdoc_free (doc);
  if (st != ANNALS_XSTATUS_OK) {
    r->ok = xerror (r->error, st, err, "cannot merge threads");
    return FALSE;
  }
  return TRUE;
}

/* Retags one shard's documents of thread from_term ("G<id>") as to. */
static gboolean
retag_shard (AnnalsXdb *db, const char *to, const char *from_term, GError **error)
{
  char *err = NULL;
  Retag r = { db, to, from_term, error, TRUE };
  AnnalsXstatus st = annals_xdb_each_with_term (db, from_term, retag_one, &r, &err);
  if (st != ANNALS_XSTATUS_OK)
    return xerror (error, st, err, "cannot merge threads");
  return r.ok;
}

/* A write for a shard's thread: documents, deletions, retags, commits,
 * done in the order queued. */
typedef enum { OP_REPLACE, OP_DELETE, OP_RETAG, OP_COMMIT } OpKind;

typedef struct {
  OpKind kind;
  guint64 docid;
  AnnalsXdoc *doc; /* OP_REPLACE, owned */
  char *to;        /* OP_RETAG */
  char *from_term; /* OP_RETAG */
} Op;

static void
op_free (Op *op)
{
  if (op->doc)
    annals_xdoc_free (op->doc);
  g_free (op->to);
  g_free (op->from_term);
  g_free (op);
}

/* Runs op on db, on whichever thread owns db. */
static gboolean
run_op (AnnalsXdb *db, Op *op, GError **error)
{
  char *err = NULL;
  AnnalsXstatus st = ANNALS_XSTATUS_OK;
  switch (op->kind) {
  case OP_REPLACE:
    if ((st = annals_xdb_replace (db, op->docid, op->doc, &err)) != ANNALS_XSTATUS_OK)
      return xerror (error, st, err, "cannot add a document");
    return TRUE;
  case OP_DELETE: {
    gboolean existed;
    if ((st = annals_xdb_delete (db, op->docid, &existed, &err)) != ANNALS_XSTATUS_OK)
      return xerror (error, st, err, "cannot remove a document");
    /* Recorded with the deletion, in the shard that held it, so a kill
     * before the scrub cannot forget it. */
    return !existed || (st = annals_xdb_set_metadata (db, KEY_SCRUB, "1", &err)) == ANNALS_XSTATUS_OK
           || xerror (error, st, err, "cannot remove a document");
  }
  case OP_RETAG:
    return retag_shard (db, op->to, op->from_term, error);
  case OP_COMMIT:
    return (st = annals_xdb_commit (db, &err)) == ANNALS_XSTATUS_OK
           || xerror (error, st, err, "cannot commit the index");
  }
  return TRUE;
}

/* A shard other than 0: a writer thread doing its queued ops in order.
 * The main thread touches db only when the queue is empty (barrier). */
struct _Shard {
  AnnalsXdb *db;
  GThread *thread;
  GMutex lock;
  GCond cond;
  GQueue ops;
  guint pending; /* queued or running */
  gboolean stop;
  GError *error; /* the first failure; later ops are dropped */
};

static gpointer
shard_thread (gpointer data)
{
  Shard *sh = data;
  for (;;) {
    g_mutex_lock (&sh->lock);
    while (g_queue_is_empty (&sh->ops) && !sh->stop)
      g_cond_wait (&sh->cond, &sh->lock);
    Op *op = g_queue_pop_head (&sh->ops);
    gboolean failed = sh->error != NULL;
    g_mutex_unlock (&sh->lock);
    if (op == NULL)
      break;
    GError *local = NULL;
    if (!failed)
      run_op (sh->db, op, &local);
    op_free (op);
    g_mutex_lock (&sh->lock);
    if (local != NULL && sh->error == NULL)
      sh->error = local;
    else
      g_clear_error (&local);
    sh->pending--;
    g_cond_broadcast (&sh->cond);
    g_mutex_unlock (&sh->lock);
  }
  return NULL;
}

static void
shard_start (Shard *sh)
{
  g_mutex_init (&sh->lock);
  g_cond_init (&sh->cond);
  g_queue_init (&sh->ops);
  sh->thread = g_thread_new ("index-shard", shard_thread, sh);
}

/* The shard's failure as error, if it had one. */
static gboolean
shard_check (Shard *sh, GError **error)
{
  if (sh->error == NULL)
    return TRUE;
  g_propagate_error (error, g_error_copy (sh->error));
  return FALSE;
}

/* Queues op (taken) for the shard's thread, waiting while it is far
 * behind. */
static gboolean
shard_push (Shard *sh, Op *op, GError **error)
{
  g_mutex_lock (&sh->lock);
  while (sh->pending >= SHARD_QUEUE && sh->error == NULL)
    g_cond_wait (&sh->cond, &sh->lock);
  gboolean ok = shard_check (sh, error);
  if (ok) {
    g_queue_push_tail (&sh->ops, op);
    sh->pending++;
    g_cond_broadcast (&sh->cond);
  }
  g_mutex_unlock (&sh->lock);
  if (!ok)
    op_free (op);
  return ok;
}

/* Waits until the shard has done everything queued. */
static gboolean
shard_wait (Shard *sh, GError **error)
{
  g_mutex_lock (&sh->lock);
  while (sh->pending > 0)
    g_cond_wait (&sh->cond, &sh->lock);
  gboolean ok = shard_check (sh, error);
  g_mutex_unlock (&sh->lock);
  return ok;
}

/* Stops the shard's thread (after what is queued) and closes nothing. */
static void
shard_stop (Shard *sh)
{
  if (sh->thread == NULL)
    return;
  g_mutex_lock (&sh->lock);
  sh->stop = TRUE;
  g_cond_broadcast (&sh->cond);
  g_mutex_unlock (&sh->lock);
  g_thread_join (sh->thread);
  sh->thread = NULL;
  g_queue_clear_full (&sh->ops, (GDestroyNotify) op_free);
  g_clear_error (&sh->error);
  g_mutex_clear (&sh->lock);
  g_cond_clear (&sh->cond);
}

/* Runs op on shard k: shard 0 here, the others on their threads.  Takes
 * op. */
static gboolean
shard_apply (Indexer *ix, guint k, Op *op, GError **error)
{
  if (k > 0)
    return shard_push (&ix->shards[k], op, error);
  gboolean ok = run_op (ix->db, op, error);
  op_free (op);
  return ok;
}

/* Merges thread from into thread to (documents in every shard, and
 * ghosts). */
static gboolean
merge_threads (Indexer *ix, const char *to, const char *from, GError **error)
{
  char *err = NULL;
  g_autofree char *alias = g_strdup_printf ("a:%s", from);
  AnnalsXstatus st = annals_xdb_set_metadata (ix->db, alias, to, &err);
  if (st != ANNALS_XSTATUS_OK)
    return xerror (error, st, err, "cannot merge threads");
  /* Queued behind the documents already sent to each shard, so those
   * are retagged too. */
  for (guint k = 0; k < ix->n_shards; k++) {
    Op *op = g_new0 (Op, 1);
    op->kind = OP_RETAG;
    op->to = g_strdup (to);
    op->from_term = g_strconcat ("G", from, NULL);
    if (!shard_apply (ix, k, op, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
numeric_less (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  return la != lb ? la < lb : strcmp (a, b) < 0;
}

typedef enum {
  ASSIGN_FOUND,   /* one of its ids had a thread */
  ASSIGN_NEW,     /* a new thread */
  ASSIGN_SUBJECT, /* none had: the thread join names (its subject's) */
} AssignHow;

/* The thread for a message with these ids (its own first), creating,
 * joining or merging threads; records every id as in it.  join: the
 * thread to take when no id has one (NULL: a new one). */
static char *
assign_thread (Indexer *ix, GPtrArray *ids, const char *join, AssignHow *how, GError **error)
{
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  char *best = NULL;
  for (guint i = 0; i < ids->len; i++) {
    char *t = NULL;
    if (!thread_of (ix, ids->pdata[i], &t, error))
      return NULL;
    if (t == NULL)
      continue;
    g_ptr_array_add (found, t);
    if (best == NULL || numeric_less (t, best))
      best = t;
  }
  char *err = NULL;
  AnnalsXstatus st;
  g_autofree char *tid = NULL;
  *how = best != NULL ? ASSIGN_FOUND : join != NULL ? ASSIGN_SUBJECT : ASSIGN_NEW;
  if (best == NULL && join != NULL) {
    tid = g_strdup (join);
  } else if (best == NULL) {
    g_autofree char *next = NULL;
    if (!get_metadata (ix->db, KEY_NEXT_THREAD, &next, error))
      return NULL;
    guint64 n = next ? g_ascii_strtoull (next, NULL, 10) : 1;
    tid = g_strdup_printf ("%" G_GUINT64_FORMAT, n);
    g_autofree char *after = g_strdup_printf ("%" G_GUINT64_FORMAT, n + 1);
    if ((st = annals_xdb_set_metadata (ix->db, KEY_NEXT_THREAD, after, &err)) != ANNALS_XSTATUS_OK) {
      xerror (error, st, err, "cannot record a thread");
      return NULL;
    }
  } else {
    tid = g_strdup (best);
    for (guint i = 0; i < found->len; i++)
      if (strcmp (found->pdata[i], tid) != 0) {
        /* Several ids can name the same other thread: merge it once. */
        g_autofree char *again = resolve (ix, found->pdata[i], error);
        if (again == NULL || (strcmp (again, tid) != 0 && !merge_threads (ix, tid, again, error)))
          return NULL;
      }
  }
  for (guint i = 0; i < ids->len; i++) {
    char *key = annals_index_thread_key (ids->pdata[i]);
    const char *cached = g_hash_table_lookup (ix->cache, key);
    g_autofree char *cur = cached ? g_strdup (cached) : NULL;
    if (cached == NULL && !get_metadata (ix->db, key, &cur, error)) {
      g_free (key);
      return NULL;
    }
    if (cur != NULL && strcmp (cur, tid) == 0) {
      if (cached == NULL)
        g_hash_table_insert (ix->cache, key, g_strdup (tid));
      else
        g_free (key);
      continue;
    }
    if ((st = annals_xdb_set_metadata (ix->db, key, tid, &err)) != ANNALS_XSTATUS_OK) {
      g_free (key);
      xerror (error, st, err, "cannot record a thread");
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
  char h[65];
  sha256_hex (message_id, h);
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

/* A subject without its reply and forward prefixes (Re:, RE:, AW:, SV:,
 * Fwd:, Fw:, also as "Re[2]:") and [list] tags, white space folded,
 * case folded: new, or NULL when nothing is left.  *reply: a reply
 * prefix was among them (a forward is not a reply). */
static char *
base_subject (const char *subject, gboolean *reply)
{
  static const struct {
    const char *word;
    gboolean reply;
  } prefixes[] = { { "re", TRUE }, { "aw", TRUE }, { "sv", TRUE }, { "fwd", FALSE }, { "fw", FALSE } };
  *reply = FALSE;
  const char *p = subject ? subject : "";
  for (;;) {
    while (g_ascii_isspace (*p))
      p++;
    if (*p == '[') {
      const char *close = strchr (p, ']');
      if (close == NULL || close - p > 64)
        break;
      p = close + 1;
      continue;
    }
    gboolean found = FALSE;
    for (guint i = 0; i < G_N_ELEMENTS (prefixes) && !found; i++) {
      gsize n = strlen (prefixes[i].word);
      if (g_ascii_strncasecmp (p, prefixes[i].word, n) != 0)
        continue;
      const char *q = p + n;
      if (*q == '[') { /* Re[2]: */
        gsize d = strspn (q + 1, "0123456789");
        if (d > 0 && q[1 + d] == ']')
          q += d + 2;
      }
      while (*q == ' ')
        q++;
      if (*q != ':')
        continue;
      *reply |= prefixes[i].reply;
      p = q + 1;
      found = TRUE;
    }
    if (!found)
      break;
  }
  GString *folded = g_string_new (NULL);
  for (; *p; p++) {
    if (g_ascii_isspace (*p)) {
      if (folded->len > 0 && folded->str[folded->len - 1] != ' ')
        g_string_append_c (folded, ' ');
    } else {
      g_string_append_c (folded, *p);
    }
  }
  if (folded->len > 0 && folded->str[folded->len - 1] == ' ')
    g_string_truncate (folded, folded->len - 1);
  if (folded->len == 0 || !g_utf8_validate (folded->str, (gssize) folded->len, NULL)) {
    g_string_free (folded, TRUE);
    return NULL;
  }
  g_autofree char *text = g_string_free (folded, FALSE);
  return g_utf8_casefold (text, -1);
}

/* The threading state key of a base subject. */
static char *
subject_key (const char *base)
{
  char h[65];
  sha256_hex (base, h);
  return g_strdup_printf ("s:%.32s", h);
}

/* A message made ready for the index by a worker thread: everything but
 * its thread, which needs the database and so the main thread. */
typedef struct {
  guint64 number;
  AnnalsStoreRecordType type;
  guint64 redaction_target;
  AnnalsXdoc *doc;
  GPtrArray *ids;             /* its Message-ID, then those it names */
  AnnalsIndexSummary summary; /* all but its thread */
  char *base_subject;         /* base_subject(), or NULL */
  gboolean subject_reply;     /* "Re:" and no References or In-Reply-To: may join by subject */
  gint64 receipt;
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
  annals_index_summary_clear (&p->summary);
  g_free (p->base_subject);
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
    g_ptr_array_add (out->ids, g_strdup (m->hdr.message_id));
  const char *parent = NULL;
  g_auto (GStrv) refs = m->hdr.references ? g_strsplit (m->hdr.references, " ", -1) : NULL;
  guint nrefs = refs ? g_strv_length (refs) : 0;
  for (guint i = nrefs > MAX_REFERENCES ? nrefs - MAX_REFERENCES : 0; i < nrefs; i++)
    if (*refs[i] != '\0' && strcmp (refs[i], m->hdr.message_id) != 0) {
      g_ptr_array_add (out->ids, g_strdup (refs[i]));
      parent = refs[i];
    }
  if (m->hdr.in_reply_to != NULL && strcmp (m->hdr.in_reply_to, m->hdr.message_id) != 0) {
    g_ptr_array_add (out->ids, g_strdup (m->hdr.in_reply_to));
    parent = m->hdr.in_reply_to;
  }

  gboolean reply;
  out->base_subject = base_subject (m->hdr.subject, &reply);
  out->subject_reply = reply && out->base_subject != NULL && (m->hdr.references == NULL || *m->hdr.references == '\0')
                       && m->hdr.in_reply_to == NULL;
  out->receipt = m->receipt;

  AnnalsXdoc *doc = annals_xdoc_new ();
  if (doc == NULL) {
    g_set_error (error, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_XAPIAN, "message %" G_GUINT64_FORMAT ": out of memory",
                 number);
    return FALSE;
  }
  out->doc = doc;
  index_folded (doc, m->hdr.subject, "S", TRUE);
  index_folded (doc, m->hdr.from, "A", TRUE);
  index_folded (doc, m->hdr.to, "XT", TRUE);
  index_folded (doc, m->hdr.cc, "XC", TRUE);
  g_autoptr (GPtrArray) parts = annals_mime_parts (data, len);
  g_autoptr (GString) fresh = g_string_new (NULL);
  g_autoptr (GString) quoted = g_string_new (NULL);
  for (guint i = 0; i < parts->len; i++) {
    AnnalsMimePart *p = parts->pdata[i];
    if (p->filename != NULL)
      index_folded (doc, p->filename, "XN", TRUE);
    if (!p->shown || fresh->len + quoted->len > MAX_INDEXED_TEXT)
      continue;
    annals_mime_split_quoted (p->text, fresh, quoted);
  }
  if (fresh->len > MAX_INDEXED_TEXT)
    g_string_truncate (fresh, MAX_INDEXED_TEXT);
  index_folded (doc, fresh->str, "", TRUE);
  /* Quoted text: stems only, no positions (no phrases there): a third
   * of the cost of new text, and a fifth less again without the words
   * themselves (BENCHMARKS.md, "Levers"). */
  index_folded (doc, quoted->str, "XQ", FALSE);

  g_autofree char *qterm = annals_index_message_id_term (m->hdr.message_id);
  annals_xdoc_add_term (doc, qterm);
  g_autofree char *lterm = list_id_term (m->hdr.list_id);
  if (lterm)
    annals_xdoc_add_term (doc, lterm);
  g_autofree char *kterm = g_strconcat ("K", list, NULL);
  annals_xdoc_add_term (doc, kterm);
  gint64 date = m->hdr.date != ANNALS_NO_DATE ? m->hdr.date : m->receipt;
  /* The summary keeps the sender's claim; the sort value may differ. */
  annals_xdoc_set_number (doc, ANNALS_XSLOT_DATE, (double) annals_index_sort_date (date, m->receipt));
  annals_xdoc_set_number (doc, ANNALS_XSLOT_RECEIPT, (double) m->receipt);
  out->summary.list = g_strdup (list);
  out->summary.number = number;
  out->summary.hdr.date = date;
  out->summary.receipt = m->receipt;
  out->summary.hdr.message_id = g_strdup (m->hdr.message_id);
  out->summary.parent = g_strdup (parent);
  out->summary.hdr.from = g_strdup (m->hdr.from);
  out->summary.hdr.subject = g_strdup (m->hdr.subject);
  return TRUE;
}

/* A Date: more than a day after the receipt is the sender's clock, not
 * when it was sent: sorting by it would pin the message on top of its
 * list for years. */
gint64
annals_index_sort_date (gint64 date, gint64 receipt)
{
  return date == ANNALS_NO_DATE || date > receipt + ANNALS_INDEX_DATE_SLACK ? receipt : date;
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

/* How much lower the workers run than the writer.  The writer is the
 * critical path (Xapian's insertion is one thread's work); the workers
 * only have to stay ahead of it.  At equal priority, the workers and
 * the writer share the cores and the writer waits for one; five steps
 * lower, the workers get what it leaves (it halved the writer's wait:
 * BENCHMARKS.md, "Levers"). */
#define WORKER_NICE 5

static void
lower_worker_priority (void)
{
#ifdef __linux__
  /* Linux keeps a nice value per thread: this one only. */
  static _Thread_local gboolean lowered;
  if (lowered)
    return;
  lowered = TRUE;
  id_t self = (id_t) gettid ();
  errno = 0;
  int now = getpriority (PRIO_PROCESS, self);
  if (errno == 0)
    (void) setpriority (PRIO_PROCESS, self, MIN (now + WORKER_NICE, 19));
#endif
}

static void
prepare_task (gpointer data, gpointer user_data)
{
  lower_worker_priority ();
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
    g_auto (AnnalsStoreRedaction) red = { 0 };
    if (r.type == ANNALS_STORE_RECORD_REDACTION && annals_store_read_redaction (store, p->number, &red, NULL))
      p->redaction_target = red.target;
  }
  g_async_queue_push (w->readers, store);
  g_mutex_lock (&w->lock);
  p->done = TRUE;
  g_cond_broadcast (&w->cond);
  g_mutex_unlock (&w->lock);
  g_free (t);
}

/* Whether thread tid had a message received in the SUBJECT_WINDOW
 * before p (and not after it). */
static gboolean
thread_active_before (Indexer *ix, Prepared *p, const char *tid, gboolean *active, GError **error)
{
  g_autofree char *term = g_strconcat ("G", tid, NULL);
  char *err = NULL;
  gint64 since = p->receipt - SUBJECT_WINDOW;
  *active = FALSE;
  /* The thread's messages are spread over the shards: shard 0 first,
   * then the others once their writers have caught up (they may hold
   * the thread's latest message, still queued). */
  for (guint k = 0; k < ix->n_shards && !*active; k++) {
    if (k > 0 && !shard_wait (&ix->shards[k], error))
      return FALSE;
    gboolean found;
    double last = 0;
    AnnalsXstatus st = annals_xdb_max_number (k == 0 ? ix->db : ix->shards[k].db, term, ANNALS_XSLOT_RECEIPT,
                                              (double) p->receipt, &found, &last, &err);
    if (st != ANNALS_XSTATUS_OK)
      return xerror (error, st, err, "cannot read a thread");
    *active = found && (gint64) last >= since;
  }
  return TRUE;
}

/* The thread a reply without references joins by its subject: of the
 * threads started under the same base subject, the latest that had a
 * message received in the SUBJECT_WINDOW before this one (mail imported
 * late never joins a thread that began after it).  *tid and *root (who
 * started it) stay NULL when there is none. */
static gboolean
subject_thread (Indexer *ix, Prepared *p, char **tid, char **root, GError **error)
{
  g_autofree char *key = subject_key (p->base_subject);
  g_autofree char *value = NULL;
  if (!get_metadata (ix->db, key, &value, error))
    return FALSE;
  g_auto (GStrv) entries = value ? g_strsplit (value, "\n", SUBJECT_THREADS + 1) : NULL;
  for (guint i = 0; entries != NULL && entries[i] != NULL && i < SUBJECT_THREADS; i++) {
    const char *tab = strchr (entries[i], '\t');
    if (tab == NULL)
      continue;
    g_autofree char *started = g_strndup (entries[i], (gsize) (tab - entries[i]));
    g_autofree char *current = resolve (ix, started, error);
    if (current == NULL)
      return FALSE;
    gboolean active;
    if (!thread_active_before (ix, p, current, &active, error))
      return FALSE;
    if (active) {
      *tid = g_steal_pointer (&current);
      *root = g_strdup (tab + 1);
      return TRUE;
    }
  }
  return TRUE;
}

/* Main thread: threads the prepared message and writes it. */
static gboolean
commit_prepared (Indexer *ix, Prepared *p, AnnalsIndexStats *stats, GError **error)
{
  /* Message n is in shard n mod N as document n / N + 1: searched
   * together, Xapian interleaves the shards' ids, and the combined id is
   * n + 1 again (doc/index-format.md). */
  if (p->type != ANNALS_STORE_RECORD_MESSAGE) {
    Op *op = g_new0 (Op, 1);
    op->kind = OP_DELETE;
    op->docid = p->redaction_target / ix->n_shards + 1;
    stats->removed++;
    return shard_apply (ix, (guint) (p->redaction_target % ix->n_shards), op, error);
  }
  /* Old mail programs reply with "Re:" and nothing else to go by. */
  g_autofree char *join = NULL, *root = NULL;
  if (p->subject_reply && !subject_thread (ix, p, &join, &root, error))
    return FALSE;
  AssignHow how;
  g_autofree char *tid = assign_thread (ix, p->ids, join, &how, error);
  if (tid == NULL)
    return FALSE;
  if (how == ASSIGN_NEW && p->base_subject != NULL) {
    /* The thread's subject, and who started it (the Message-ID in the
     * summary), for replies to come. */
    g_autofree char *key = subject_key (p->base_subject);
    g_autofree char *before = NULL;
    if (!get_metadata (ix->db, key, &before, error))
      return FALSE;
    g_autoptr (GString) v = g_string_new (tid);
    g_string_append_c (v, '\t');
    append_field (v, p->summary.hdr.message_id);
    /* The threads before it follow, up to SUBJECT_THREADS in all. */
    g_auto (GStrv) older = before ? g_strsplit (before, "\n", SUBJECT_THREADS) : NULL;
    for (guint i = 0; older != NULL && older[i] != NULL && i + 1 < SUBJECT_THREADS; i++)
      g_string_append_printf (v, "\n%s", older[i]);
    const char *value = v->str;
    char *err = NULL;
    AnnalsXstatus st;
    if ((st = annals_xdb_set_metadata (ix->db, key, value, &err)) != ANNALS_XSTATUS_OK)
      return xerror (error, st, err, "cannot record a thread");
  }
  if (how == ASSIGN_SUBJECT && root != NULL && *root != '\0') {
    /* Shown as a reply to the message that started the thread. */
    g_free (p->summary.parent);
    p->summary.parent = g_strdup (root);
  }
  g_autofree char *gterm = g_strconcat ("G", tid, NULL);
  annals_xdoc_add_term (p->doc, gterm);
  annals_xdoc_set_string (p->doc, ANNALS_XSLOT_THREAD, tid);
  p->summary.thread = g_strdup (tid);
  g_autofree char *summary = annals_index_summary_encode (&p->summary);
  annals_xdoc_set_data (p->doc, summary, strlen (summary));
  Op *op = g_new0 (Op, 1);
  op->kind = OP_REPLACE;
  op->docid = p->number / ix->n_shards + 1;
  op->doc = g_steal_pointer (&p->doc);
  if (!shard_apply (ix, (guint) (p->number % ix->n_shards), op, error))
    return FALSE;
  stats->indexed++;
  stats->bytes += p->bytes;
  return TRUE;
}

/* Commits shards 1.. (in parallel, each on its thread) and waits for
 * them: before shard 0, whose commit moves the resume mark. */
static gboolean
commit_others (Indexer *ix, GError **error)
{
  gboolean ok = TRUE;
  for (guint k = 1; k < ix->n_shards && ok; k++) {
    Op *op = g_new0 (Op, 1);
    op->kind = OP_COMMIT;
    ok = shard_push (&ix->shards[k], op, error);
  }
  for (guint k = 1; k < ix->n_shards; k++)
    ok = shard_wait (&ix->shards[k], ok ? error : NULL) && ok;
  return ok;
}

/* Commits the index with the number of store entries it covers.  The
 * other shards commit first: a kill between leaves them ahead of the
 * mark, and the next run writes the same documents again. */
static gboolean
mark_indexed (Indexer *ix, guint64 covered, GError **error)
{
  if (!commit_others (ix, error))
    return FALSE;
  char *err = NULL;
  g_autofree char *mark = g_strdup_printf ("%" G_GUINT64_FORMAT, covered);
  AnnalsXstatus st = annals_xdb_set_metadata (ix->db, KEY_INDEXED, mark, &err);
  if (st == ANNALS_XSTATUS_OK)
    st = annals_xdb_commit (ix->db, &err);
  if (st != ANNALS_XSTATUS_OK)
    return xerror (error, st, err, "cannot commit the index");
  test_kill_point ("committed");
  return TRUE;
}

/* Messages prepared ahead of the one being written. */
#define WINDOW 128

/* Shard k of an index of n at index_dir: index_dir itself for one shard
 * (the layout of version 1), else index_dir/shard-k.  New string. */
static char *
shard_path (const char *index_dir, guint k, guint n)
{
  if (n == 1)
    return g_strdup (index_dir);
  g_autofree char *name = g_strdup_printf ("shard-%u", k);
  return g_build_filename (index_dir, name, NULL);
}

/* Closes the shards of ix (shard 0 last) and stops their threads. */
static void
close_shards (Indexer *ix)
{
  for (guint k = 1; k < ix->n_shards; k++) {
    shard_stop (&ix->shards[k]);
    annals_xdb_free (ix->shards[k].db);
  }
  g_clear_pointer (&ix->shards, g_free);
  annals_xdb_free (ix->db);
  ix->db = NULL;
}

/* Opens the n shards of index_dir for writing and starts their threads. */
static gboolean
open_shards (Indexer *ix, const char *index_dir, guint n, gboolean *damaged, GError **error)
{
  ix->n_shards = n;
  ix->shards = g_new0 (Shard, n);
  for (guint k = 0; k < n; k++) {
    g_autofree char *path = shard_path (index_dir, k, n);
    char *err = NULL;
    AnnalsXdb *db = NULL;
    AnnalsXstatus st = annals_xdb_open_writable (path, FALSE, &db, &err);
    if (st != ANNALS_XSTATUS_OK) {
      *damaged = st == ANNALS_XSTATUS_CORRUPT || st == ANNALS_XSTATUS_NOT_FOUND;
      close_shards (ix);
      return xerror (error, st, err,
                     st == ANNALS_XSTATUS_LOCKED ? "cannot open the index (another 'annals index' running?)"
                                                 : "cannot open the index");
    }
    if (k == 0) {
      ix->db = db;
    } else {
      ix->shards[k].db = db;
      shard_start (&ix->shards[k]);
    }
  }
  return TRUE;
}

/* Brings the existing database index_dir up to date.  *damaged: it could
 * not be opened because it is not a whole database.  *compact: it is
 * marked to be compacted (this run or a killed one was a bulk run). */
static gboolean
update (const char *index_dir, guint n_shards, const char *store_dir, const char *list, AnnalsIndexLimit limit,
        gpointer limit_ctx, AnnalsIndexProgress progress, gpointer ctx, AnnalsIndexStats *stats, gboolean *damaged,
        gboolean *compact, GError **error)
{
  g_autoptr (AnnalsStore) store = annals_store_open (store_dir, error);
  if (store == NULL)
    return FALSE;
  char *err = NULL;
  Indexer ix = { NULL, list, NULL, NULL, 0 };
  if (!open_shards (&ix, index_dir, n_shards, damaged, error))
    return FALSE;
  AnnalsXstatus st;
  g_autoptr (GHashTable) cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  ix.cache = cache;
  /* Where to go on from: unreadable is a failure, never "from the start". */
  g_autofree char *done = NULL;
  if (!get_metadata (ix.db, KEY_INDEXED, &done, error)) {
    close_shards (&ix);
    return FALSE;
  }
  guint64 start = done ? g_ascii_strtoull (done, NULL, 10) : 0;
  gboolean finished = limit == NULL;
  guint64 count = limit ? limit (limit_ctx, start, &finished) : annals_store_count (store);
  /* Every shard says which writer wrote it last; their threads are idle
   * (nothing queued yet). */
  gboolean ok = TRUE;
  for (guint k = 0; k < ix.n_shards && ok; k++) {
    st = annals_xdb_set_metadata (k == 0 ? ix.db : ix.shards[k].db, KEY_VERSION, INDEX_VERSION, &err);
    ok = st == ANNALS_XSTATUS_OK || xerror (error, st, err, "cannot write the index");
  }

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
  /* Threads of its own: their priority is lowered (prepare_task), and a
   * shared pool would hand them on to other work. */
  GThreadPool *pool = g_thread_pool_new (prepare_task, NULL, (gint) cores, TRUE, NULL);
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
  /* A bulk run: marked in the same commit as its last documents, so a
   * kill before the compacted copy is in leaves the mark behind. */
  if (ok && stats->indexed > commit_every && stats->indexed * COMPACT_SHARE >= stats->total)
    ok = (st = annals_xdb_set_metadata (ix.db, KEY_COMPACT, "1", &err)) == ANNALS_XSTATUS_OK
         || xerror (error, st, err, "cannot write the index");
  if (ok && stats->total > marked)
    ok = mark_indexed (&ix, stats->total, error);
  else if (ok) {
    stats->total = MAX (stats->total, start);
    ok = commit_others (&ix, error)
         && ((st = annals_xdb_commit (ix.db, &err)) == ANNALS_XSTATUS_OK
             || xerror (error, st, err, "cannot commit the index"));
  }
  /* Every shard is idle now (committed): any of them may hold words of
   * a deleted document. */
  for (guint k = 0; ok && k < ix.n_shards && !stats->scrub_pending; k++) {
    g_autofree char *scrub = NULL;
    ok = get_metadata (k == 0 ? ix.db : ix.shards[k].db, KEY_SCRUB, &scrub, error);
    stats->scrub_pending = scrub != NULL;
  }
  g_autofree char *mark = NULL;
  ok = ok && get_metadata (ix.db, KEY_COMPACT, &mark, error);
  *compact = mark != NULL;
  close_shards (&ix);
  if (progress)
    progress (ctx, stats, count);
  return ok;
}

/* What cannot be removed is found when the path is made again, and
 * that error names it. */
static void
remove_tree (const char *path)
{
  annals_fs_remove_tree (path, NULL);
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

/* The shard count of the index at index_dir: 1 for one database (the
 * layout of version 1 too), N from index_dir/shards when each of its
 * shard-K folders is a whole database, 0 when there is no whole index. */
static guint
shard_count (const char *index_dir)
{
  if (has_revision (index_dir))
    return 1;
  g_autofree char *file = g_build_filename (index_dir, SHARDS_FILE, NULL);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (file, &text, NULL, NULL))
    return 0;
  guint64 n = 0;
  if (!g_ascii_string_to_unsigned (g_strstrip (text), 10, 2, MAX_SHARDS, &n, NULL))
    return 0;
  for (guint k = 0; k < n; k++) {
    g_autofree char *path = shard_path (index_dir, k, (guint) n);
    if (!has_revision (path))
      return 0;
  }
  return (guint) n;
}

/* Whether the index of n shards at index_dir is of a format version
 * before this one (shard 0's annals:version).  One that cannot be read
 * is not: the update that follows says what is wrong with it. */
static gboolean
older_version (const char *index_dir, guint n)
{
  g_autofree char *path = shard_path (index_dir, 0, n);
  const char *paths[] = { path };
  AnnalsXdb *db = NULL;
  if (annals_xdb_open_readonly (paths, 1, &db, NULL) != ANNALS_XSTATUS_OK)
    return FALSE;
  g_autofree char *version = NULL;
  AnnalsXstatus st = annals_xdb_get_metadata (db, KEY_VERSION, &version, NULL);
  annals_xdb_free (db);
  guint64 v = 0;
  if (st != ANNALS_XSTATUS_OK)
    return FALSE;
  /* No key at all: written before versions were recorded. */
  return version == NULL || !g_ascii_string_to_unsigned (version, 10, 0, G_MAXUINT, &v, NULL)
         || v < INDEX_VERSION_NUMBER;
}

/* The list's config: ROOT/annals.conf, ROOT being list_dir's parent.
 * NULL without error when there is none (a bare list folder, as the
 * tests and fuzzers make). */
static AnnalsConfig *
list_config (const char *list_dir, GError **error)
{
  g_autofree char *root = g_path_get_dirname (list_dir);
  g_autofree char *conf = g_build_filename (root, "annals.conf", NULL);
  if (!g_file_test (conf, G_FILE_TEST_EXISTS))
    return NULL;
  return annals_config_open (root, error);
}

/* [list NAME] key of config as a number from min to max (def when
 * absent), or FALSE with an error naming the file and the key. */
static gboolean
config_number (AnnalsConfig *config, const char *list, const char *key, guint min, guint max, guint def, guint *out,
               GError **error)
{
  g_autofree char *v = config ? annals_config_list_get (config, list, key) : NULL;
  guint64 n = def;
  if (v != NULL && !g_ascii_string_to_unsigned (g_strstrip (v), 10, min, max, &n, NULL)) {
    g_set_error (error, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_CONFIG,
                 "%s/annals.conf: [list %s] %s=%s is not a number from %u to %u: fix it there",
                 annals_config_root (config), list, key, v, min, max);
    return FALSE;
  }
  *out = (guint) n;
  return TRUE;
}

gboolean
annals_index_configured_shards (const char *list_dir, guint *shards, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (AnnalsConfig) config = list_config (list_dir, &local);
  if (local != NULL) {
    g_set_error (error, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_CONFIG, "%s", local->message);
    return FALSE;
  }
  g_autofree char *list = g_path_get_basename (list_dir);
  return config_number (config, list, "index-shards", 1, MAX_SHARDS, 1, shards, error);
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
 * revision file). */
static gboolean
create_db (const char *path, guint n, GError **error)
{
  char *err = NULL;
  AnnalsXdb *db = NULL;
  AnnalsXstatus st = annals_xdb_open_writable (path, TRUE, &db, &err);
  if (st != ANNALS_XSTATUS_OK)
    return xerror (error, st, err, "cannot create the index");
  g_autofree char *count = g_strdup_printf ("%u", n);
  st = annals_xdb_set_metadata (db, KEY_VERSION, INDEX_VERSION, &err);
  if (st == ANNALS_XSTATUS_OK)
    st = annals_xdb_set_metadata (db, KEY_SHARDS, count, &err);
  if (st == ANNALS_XSTATUS_OK)
    st = annals_xdb_commit (db, &err);
  gboolean ok = st == ANNALS_XSTATUS_OK || xerror (error, st, err, "cannot create the index");
  annals_xdb_free (db);
  return ok;
}

/* path/shards, written last: the index of n shards is whole. */
static gboolean
write_shards_file (const char *path, guint n, GError **error)
{
  g_autofree char *file = g_build_filename (path, SHARDS_FILE, NULL);
  g_autofree char *text = g_strdup_printf ("%u\n", n);
  int fd = open (file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return io_error (error, "create", file);
  gboolean ok = write (fd, text, strlen (text)) == (ssize_t) strlen (text) || io_error (error, "write", file);
  ok = ok && (fsync (fd) == 0 || io_error (error, "sync", file));
  close (fd);
  return ok && sync_dir (path, error);
}

/* A new, empty index of n shards at path, for install(): one database,
 * or a folder of n and their count. */
static gboolean
create_empty (const char *path, guint n, GError **error)
{
  if (n == 1) {
    gboolean ok = create_db (path, 1, error);
    test_kill_point ("created");
    return ok;
  }
  if (g_mkdir (path, 0755) != 0)
    return io_error (error, "create", path);
  for (guint k = 0; k < n; k++) {
    g_autofree char *shard = shard_path (path, k, n);
    if (!create_db (shard, n, error))
      return FALSE;
  }
  gboolean ok = write_shards_file (path, n, error);
  test_kill_point ("created");
  return ok;
}

/* After a redaction or a bulk run: the index compacted into a fresh copy
 * (live entries only, blocks full, ids kept, threads untouched), swapped
 * in.  A kill before the swap leaves the old index, still marked, for the
 * next run. */
static gboolean
scrub_shard (const char *index_dir, const char *fresh, guint64 covered, GError **error)
{
  char *err = NULL;
  const char *paths[] = { index_dir };
  AnnalsXdb *db = NULL;
  AnnalsXstatus st = annals_xdb_open_readonly (paths, 1, &db, &err);
  if (st != ANNALS_XSTATUS_OK)
    return xerror (error, st, err, "cannot compact the index");
  st = annals_xdb_compact (db, fresh, &err);
  gboolean ok = st == ANNALS_XSTATUS_OK || xerror (error, st, err, "cannot compact the index");
  annals_xdb_free (db);
  if (!ok)
    return FALSE;
  test_kill_point ("compacting");
  db = NULL;
  st = annals_xdb_open_writable (fresh, FALSE, &db, &err);
  if (st != ANNALS_XSTATUS_OK)
    return xerror (error, st, err, "cannot compact the index");
  g_autofree char *at = g_strdup_printf ("%" G_GUINT64_FORMAT, covered);
  st = annals_xdb_set_metadata (db, KEY_SCRUB, "", &err);
  if (st == ANNALS_XSTATUS_OK)
    st = annals_xdb_set_metadata (db, KEY_COMPACT, "", &err);
  if (st == ANNALS_XSTATUS_OK)
    st = annals_xdb_set_metadata (db, KEY_COMPACTED, at, &err);
  if (st == ANNALS_XSTATUS_OK)
    st = annals_xdb_commit (db, &err);
  ok = st == ANNALS_XSTATUS_OK || xerror (error, st, err, "cannot compact the index");
  annals_xdb_free (db);
  return ok;
}

/* Every shard is compacted (ids kept), into a fresh index swapped in
 * whole. */
static gboolean
scrub (const char *index_dir, guint n, const char *fresh, const char *list_dir, guint64 covered, GError **error)
{
  if (n > 1 && g_mkdir (fresh, 0755) != 0)
    return io_error (error, "create", fresh);
  for (guint k = 0; k < n; k++) {
    g_autofree char *from = shard_path (index_dir, k, n);
    g_autofree char *to = shard_path (fresh, k, n);
    if (!scrub_shard (from, to, covered, error))
      return FALSE;
  }
  if (n > 1 && !write_shards_file (fresh, n, error))
    return FALSE;
  test_kill_point ("built");
  return install (fresh, index_dir, list_dir, error);
}

/* The incremental update: the index is created beside and renamed in
 * when missing, and created again when half-made or damaged. */
static gboolean
update_in_place (const char *index_dir, guint n, const char *fresh, const char *store_dir, const char *list_dir,
                 const char *list, AnnalsIndexLimit limit, gpointer limit_ctx, AnnalsIndexProgress progress,
                 gpointer ctx, AnnalsIndexStats *stats, gboolean *compact, GError **error)
{
  gboolean damaged = FALSE;
  /* A folder without a revision: a kill inside Xapian's creation of the
   * database (before indexes were created beside and renamed). */
  if (g_file_test (index_dir, G_FILE_TEST_EXISTS) && shard_count (index_dir) == 0) {
    stats->recreated = TRUE;
    remove_tree (index_dir);
  }
  if (!g_file_test (index_dir, G_FILE_TEST_EXISTS)
      && (!create_empty (fresh, n, error) || !install (fresh, index_dir, list_dir, error)))
    return FALSE;
  g_autoptr (GError) local = NULL;
  if (!update (index_dir, n, store_dir, list, limit, limit_ctx, progress, ctx, stats, &damaged, compact, &local)) {
    if (!damaged) {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
    /* Damaged beyond opening: the index is derived, so build it again. */
    stats->recreated = TRUE;
    remove_tree (index_dir);
    if (!create_empty (fresh, n, error) || !install (fresh, index_dir, list_dir, error)
        || !update (index_dir, n, store_dir, list, limit, limit_ctx, progress, ctx, stats, &damaged, compact, error))
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
  guint n = 1;
  if (!annals_index_configured_shards (list_dir, &n, error))
    return FALSE;
  /* annals.conf asks for another shard count than the index has: the
   * index is built again with that many (a reshard). */
  guint have = shard_count (index_dir);
  if (!rebuild && have != 0 && have != n) {
    rebuild = TRUE;
    stats->resharded = TRUE;
  }
  /* An index of an older format: built again in this one (beside it, so
   * searches go on meanwhile; they read the older terms too). */
  if (!rebuild && have != 0 && older_version (index_dir, have)) {
    rebuild = TRUE;
    stats->upgraded = TRUE;
  }
  gboolean damaged = FALSE, compact = FALSE;
  if (rebuild) {
    /* Built beside the old index and swapped: searches go on meanwhile. */
    if (!create_empty (fresh, n, error)
        || !update (fresh, n, store_dir, list, limit, limit_ctx, progress, ctx, stats, &damaged, &compact, error))
      return FALSE;
    test_kill_point ("built");
    if (!install (fresh, index_dir, list_dir, error))
      return FALSE;
  } else {
    if (!update_in_place (index_dir, n, fresh, store_dir, list_dir, list, limit, limit_ctx, progress, ctx, stats,
                          &compact, error))
      return FALSE;
  }
  /* A rebuild can meet a redaction the store has not finished (the
   * notice is in, the message not yet erased) and delete a document too.
   * A bulk run's compaction is the same step: one copy does both. */
  if (stats->scrub_pending || compact) {
    if (!scrub (index_dir, n, fresh, list_dir, stats->total, error))
      return FALSE;
    stats->scrubbed = stats->scrub_pending;
    stats->scrub_pending = FALSE;
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
  g_autoptr (GError) local = NULL;
  gboolean ok = write_locked (list_dir, list, rebuild, limit, limit_ctx, progress, ctx, stats, &local);
  close (lock);
  if (g_error_matches (local, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_CORRUPT)) {
    /* The way out, which builds beside and never reads the damaged copy. */
    g_set_error (error, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_CORRUPT,
                 "the index is damaged (%s); 'annals index --rebuild %s' builds it again from the store",
                 local->message, list);
    return FALSE;
  }
  if (local != NULL)
    g_propagate_error (error, g_steal_pointer (&local));
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

void
annals_index_shard_clear (AnnalsIndexShard *sh)
{
  g_clear_pointer (&sh->path, g_free);
  g_clear_pointer (&sh->host, g_free);
}

/* index-remote = host:port,host:port (one per shard, shard 0 first). */
static gboolean
remote_shards (AnnalsConfig *config, const char *list, const char *spec, guint timeout_ms, GArray *out, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (spec, ",", -1);
  for (char **p = parts; *p; p++) {
    g_strstrip (*p);
    const char *colon = strrchr (*p, ':');
    guint64 port = 0;
    if (colon == NULL || colon == *p || !g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &port, NULL)
        || g_strv_length (parts) > MAX_SHARDS) {
      g_set_error (error, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_CONFIG,
                   "%s/annals.conf: [list %s] index-remote=%s: '%s' is not host:port (one per shard, "
                   "comma-separated, at most %d): fix it there",
                   annals_config_root (config), list, spec, *p, MAX_SHARDS);
      return FALSE;
    }
    AnnalsIndexShard sh = { NULL, g_strndup (*p, (gsize) (colon - *p)), (guint) port, timeout_ms };
    g_array_append_val (out, sh);
  }
  return TRUE;
}

GArray *
annals_index_reader_shards (const char *list_dir, GError **error)
{
  g_autofree char *list = g_path_get_basename (list_dir);
  g_autoptr (GError) local = NULL;
  g_autoptr (AnnalsConfig) config = list_config (list_dir, &local);
  if (local != NULL) {
    g_set_error (error, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_CONFIG, "%s", local->message);
    return NULL;
  }
  g_autoptr (GArray) shards = g_array_new (FALSE, TRUE, sizeof (AnnalsIndexShard));
  g_array_set_clear_func (shards, (GDestroyNotify) annals_index_shard_clear);
  g_autofree char *remote = config ? annals_config_list_get (config, list, "index-remote") : NULL;
  if (remote != NULL && *g_strstrip (remote) != '\0') {
    guint secs = 5;
    if (!config_number (config, list, "index-remote-timeout", 1, ANNALS_CONFIG_REMOTE_TIMEOUT_MAX, 5, &secs, error)
        || !remote_shards (config, list, remote, secs * 1000, shards, error))
      return NULL;
    return g_steal_pointer (&shards);
  }
  g_autofree char *index_dir = g_build_filename (list_dir, "index", NULL);
  if (!g_file_test (index_dir, G_FILE_TEST_IS_DIR))
    return NULL;
  guint n = shard_count (index_dir);
  if (n == 0) {
    g_set_error (error, ANNALS_INDEX_ERROR, ANNALS_INDEX_ERROR_NOT_READY,
                 "the index of '%s' is not ready (half-made by an index run that was killed); "
                 "'annals index %s' rebuilds it from the store",
                 list, list);
    return NULL;
  }
  for (guint k = 0; k < n; k++) {
    AnnalsIndexShard sh = { shard_path (index_dir, k, n), NULL, 0, 0 };
    g_array_append_val (shards, sh);
  }
  return g_steal_pointer (&shards);
}
