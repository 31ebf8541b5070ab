// xapian-shim: see xapian-shim.h.  Every entry point catches
// Xapian::Error, std::exception and anything else (SHIM_CATCH): nothing
// is thrown across the C boundary, and each failure becomes a status.
#include "indexer/xapian-shim.h"

#include <xapian.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

struct _AnnalsXdb {
  Xapian::Database *db;          // the read view (the writable one when writable)
  Xapian::WritableDatabase *wdb; // NULL when read-only
  bool closed;
};

struct _AnnalsXdoc {
  Xapian::Document doc;
  // The first failure of a builder, reported by annals_xdb_replace.
  AnnalsXstatus status = ANNALS_XSTATUS_OK;
  std::string message;
};

namespace {

// Each thread's stems, word -> stem: the words of mail repeat, and two
// Snowball stemmers a word were most of term generation.  Emptied when
// full rather than evicted one by one: refilling costs little.
constexpr size_t STEM_CACHE_MAX = 100000;
thread_local std::unordered_map<std::string, std::string> stem_cache;

// English suffixes first, then French: one stem for both languages of the
// coalition, the same at index and query time.
class EnglishFrenchStem : public Xapian::StemImplementation {
  Xapian::Stem english{ "english" };
  Xapian::Stem french{ "french" };

public:
  std::string operator() (const std::string &word) override
  {
    auto hit = stem_cache.find (word);
    if (hit != stem_cache.end ())
      return hit->second;
    std::string stem = french (english (word));
    if (stem_cache.size () >= STEM_CACHE_MAX)
      stem_cache.clear ();
    stem_cache.emplace (word, stem);
    return stem;
  }
  std::string get_description () const override { return "annals english+french"; }
};

Xapian::Stem
make_stem ()
{
  return Xapian::Stem (new EnglishFrenchStem ());
}

// The stem of a word of a snippet's text, which was not folded: folded
// first, as the indexed text was ("réseau" -> "reseau").  Only words
// that begin as one of the query's words can match it (stemming changes
// endings only), so the others are not stemmed: stemming every word
// (English, then French) would be most of what a snippet costs.
class FoldingStem : public Xapian::StemImplementation {
  Xapian::Stem stem = make_stem ();
  char *(*fold) (const char *);
  std::unordered_set<std::string> starts; // first two bytes of each query word

public:
  FoldingStem (char *(*f) (const char *), const Xapian::Query &q) : fold (f)
  {
    for (auto t = q.get_unique_terms_begin (); t != q.get_unique_terms_end (); ++t) {
      std::string term = *t;
      size_t at = 0;
      while (at < term.size () && term[at] >= 'A' && term[at] <= 'Z')
        at++; // the prefix
      starts.insert (term.substr (at, 2));
    }
  }
  std::string operator() (const std::string &word) override
  {
    // Most words are ASCII, which folding leaves as they are: no copy
    // through fold for them (Xapian asks for every word of the text).
    bool ascii = std::all_of (word.begin (), word.end (), [] (char ch) { return (unsigned char) ch < 0x80; });
    if (ascii)
      return starts.count (word.substr (0, 2)) == 0 ? word : stem (word);
    char *f = fold (word.c_str ());
    std::string folded (f ? f : word.c_str ());
    g_free (f);
    if (starts.count (folded.substr (0, 2)) == 0)
      return folded;
    return stem (folded);
  }
  std::string get_description () const override { return "annals folding english+french"; }
};

// STEM_SOME: each word and its stem ("Z" prefix).  stems_only:
// STEM_ALL_Z, the stem alone, as the same "Z" term: a query's lowercase
// word (STEM_SOME) is looked for as that term, so it needs no rewriting
// (rewrite_quoted() does the rest).
Xapian::TermGenerator &
term_generator (bool stems_only)
{
  thread_local Xapian::TermGenerator tg[2];
  thread_local bool ready = false;
  if (!ready) {
    tg[0].set_stemmer (make_stem ());
    tg[0].set_stemming_strategy (Xapian::TermGenerator::STEM_SOME);
    tg[1].set_stemmer (make_stem ());
    tg[1].set_stemming_strategy (Xapian::TermGenerator::STEM_ALL_Z);
    // Chinese and Japanese write words without spaces: each run of their
    // characters is indexed as its characters and their pairs, so a word
    // inside a sentence is found (the query parser splits it alike).
    for (Xapian::TermGenerator &g : tg)
      g.set_flags (Xapian::TermGenerator::FLAG_CJK_NGRAM);
    ready = true;
  }
  return tg[stems_only ? 1 : 0];
}

AnnalsXstatus
fail (char **message, AnnalsXstatus status, const std::string &what)
{
  if (message != NULL)
    *message = g_strdup (what.c_str ());
  return status;
}

// The first letter of s in lower case (Xapian's messages start upper case).
std::string
lower_first (std::string s)
{
  if (!s.empty ())
    s[0] = g_ascii_tolower (s[0]);
  return s;
}

// Why a remote shard failed, in a few words ("connection refused", "timed
// out"): the caller names the shard and says what to do.
std::string
network_cause (const Xapian::NetworkError &e)
{
  const char *why = e.get_error_string ();
  if (e.get_msg () == "Couldn't connect" && why != NULL)
    return lower_first (why);
  if (e.get_msg ().find ("EOF") != std::string::npos)
    return "connection closed";
  return lower_first (e.get_msg ()) + (why != NULL ? std::string (" (") + lower_first (why) + ")" : "");
}

// The exception being handled, as a status and a message; called inside
// a catch block only.  Xapian's classes are matched most specific first
// (Xapian::Error has no virtual functions, so no dynamic_cast).
AnnalsXstatus
fail_current (char **message)
{
  try {
    throw;
  } catch (const Xapian::DatabaseLockError &e) {
    return fail (message, ANNALS_XSTATUS_LOCKED, e.get_description ());
  } catch (const Xapian::DatabaseModifiedError &e) {
    return fail (message, ANNALS_XSTATUS_LOCKED, e.get_description ());
  } catch (const Xapian::DatabaseCorruptError &e) {
    return fail (message, ANNALS_XSTATUS_CORRUPT, e.get_description ());
  } catch (const Xapian::DatabaseVersionError &e) {
    return fail (message, ANNALS_XSTATUS_CORRUPT, e.get_description ());
  } catch (const Xapian::DatabaseNotFoundError &e) {
    return fail (message, ANNALS_XSTATUS_NOT_FOUND, e.get_description ());
  } catch (const Xapian::DocNotFoundError &e) {
    return fail (message, ANNALS_XSTATUS_NOT_FOUND, e.get_description ());
  } catch (const Xapian::WildcardError &e) {
    return fail (message, ANNALS_XSTATUS_WILDCARD_TOO_BROAD, e.get_description ());
  } catch (const Xapian::QueryParserError &e) {
    return fail (message, ANNALS_XSTATUS_QUERY_SYNTAX, e.get_description ());
  } catch (const Xapian::DatabaseClosedError &e) {
    return fail (message, ANNALS_XSTATUS_INTERNAL, e.get_description ());
  } catch (const Xapian::DatabaseError &e) {
    // Opening and creating errors, read and write errors (disk full).
    return fail (message, ANNALS_XSTATUS_IO, e.get_description ());
  } catch (const Xapian::NetworkTimeoutError &) {
    // A remote shard past its timeout, connecting or answering.
    return fail (message, ANNALS_XSTATUS_UNREACHABLE, "timed out");
  } catch (const Xapian::NetworkError &e) {
    // A remote shard that refused or closed.
    return fail (message, ANNALS_XSTATUS_UNREACHABLE, network_cause (e));
  } catch (const Xapian::Error &e) {
    return fail (message, ANNALS_XSTATUS_INTERNAL, e.get_description ());
  } catch (const std::bad_alloc &) {
    return fail (message, ANNALS_XSTATUS_INTERNAL, "out of memory in Xapian");
  } catch (const std::exception &e) {
    return fail (message, ANNALS_XSTATUS_INTERNAL, e.what ());
  } catch (...) {
    return fail (message, ANNALS_XSTATUS_INTERNAL, "unknown error in Xapian");
  }
}

// Every entry point's last handler: Xapian::Error, std::exception and
// anything else, each to its status.
#define SHIM_CATCH(message)                                                                                            \
  catch (...) { return fail_current (message); }

// The checks before a call on db: open, and writable for a write.
#define SHIM_CHECK_OPEN(db, message)                                                                                   \
  do {                                                                                                                 \
    if ((db) == NULL || (db)->closed)                                                                                  \
      return fail (message, ANNALS_XSTATUS_INTERNAL, "the index handle is closed (a bug in annals)");                  \
  } while (0)
#define SHIM_CHECK_WRITABLE(db, message)                                                                               \
  do {                                                                                                                 \
    SHIM_CHECK_OPEN (db, message);                                                                                     \
    if ((db)->wdb == NULL)                                                                                             \
      return fail (message, ANNALS_XSTATUS_NOT_WRITABLE, "the index was opened read-only (a bug in annals)");          \
  } while (0)

// A builder's failure, kept in the document.
void
doc_fail (AnnalsXdoc *doc, AnnalsXstatus status, const std::string &what)
{
  if (doc->status == ANNALS_XSTATUS_OK) {
    doc->status = status;
    doc->message = what;
  }
}

#define DOC_CATCH(doc)                                                                                                 \
  catch (...)                                                                                                          \
  {                                                                                                                    \
    char *m = NULL;                                                                                                    \
    AnnalsXstatus st = fail_current (&m);                                                                              \
    doc_fail (doc, st, m);                                                                                             \
    g_free (m);                                                                                                        \
  }

} // namespace

// Where a database was asked for and none answered: nothing at the path,
// or a folder without its revision file (a kill inside the creation).
static AnnalsXstatus
not_found_status (const char *path)
{
  return g_file_test (path, G_FILE_TEST_EXISTS) ? ANNALS_XSTATUS_CORRUPT : ANNALS_XSTATUS_NOT_FOUND;
}

AnnalsXstatus
annals_xdb_open_writable (const char *path, gboolean create, AnnalsXdb **db, char **message)
{
  try {
    // Never DB_CREATE_OR_OPEN: a kill inside the creation leaves a folder
    // without its revision file, so callers create beside and rename.
    std::unique_ptr<Xapian::WritableDatabase> w (
        new Xapian::WritableDatabase (path, create ? Xapian::DB_CREATE : Xapian::DB_OPEN));
    AnnalsXdb *d = g_new0 (AnnalsXdb, 1);
    d->wdb = w.release ();
    d->db = d->wdb;
    *db = d;
    return ANNALS_XSTATUS_OK;
  } catch (const Xapian::DatabaseNotFoundError &e) {
    // "Couldn't detect type of database".
    return fail (message, create ? ANNALS_XSTATUS_IO : not_found_status (path), e.get_description ());
  }
  SHIM_CATCH (message)
}

AnnalsXstatus
annals_xdb_open_readonly (const char *const *paths, guint count, AnnalsXdb **db, char **message)
{
  std::vector<AnnalsXsource> sources (count);
  for (guint i = 0; i < count; i++)
    sources[i] = AnnalsXsource{ paths[i], NULL, 0, 0 };
  return annals_xdb_open_sources (sources.data (), count, db, NULL, message);
}

AnnalsXstatus
annals_xdb_open_sources (const AnnalsXsource *sources, guint count, AnnalsXdb **db, guint *failed, char **message)
{
  guint i = 0;
  if (failed != NULL)
    *failed = count;
  try {
    std::unique_ptr<Xapian::Database> d (new Xapian::Database ());
    for (; i < count; i++) {
      const AnnalsXsource &s = sources[i];
      if (s.path != NULL) {
        d->add_database (Xapian::Database (s.path));
      } else {
        // The same bound for connecting and for every answer after.
        useconds_t ms = s.timeout_ms ? s.timeout_ms : 5000;
        d->add_database (Xapian::Remote::open (s.host ? s.host : "", s.port, ms, ms));
      }
    }
    AnnalsXdb *x = g_new0 (AnnalsXdb, 1);
    x->db = d.release ();
    *db = x;
    return ANNALS_XSTATUS_OK;
  } catch (...) {
    // Named: of several databases searched as one, which one failed, so
    // that callers need not open each again (another timeout) to find it.
    char *m = NULL;
    AnnalsXstatus st = fail_current (&m);
    if (st == ANNALS_XSTATUS_NOT_FOUND && i < count && sources[i].path != NULL)
      st = not_found_status (sources[i].path);
    if (failed != NULL)
      *failed = i;
    if (message != NULL)
      *message = i < count && sources[i].path != NULL ? g_strdup_printf ("'%s': %s", sources[i].path, m) : g_strdup (m);
    g_free (m);
    return st;
  }
}

AnnalsXstatus
annals_xdb_close (AnnalsXdb *db, char **message)
{
  SHIM_CHECK_OPEN (db, message);
  db->closed = true;
  try {
    db->db->close ();
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

void
annals_xdb_free (AnnalsXdb *db)
{
  if (db == NULL)
    return;
  if (!db->closed)
    annals_xdb_close (db, NULL);
  // Destructors do not throw; a closed database has nothing left to commit.
  if (db->wdb != NULL)
    delete db->wdb;
  else
    delete db->db;
  g_free (db);
}

AnnalsXstatus
annals_xdb_reopen (AnnalsXdb *db, char **message)
{
  SHIM_CHECK_OPEN (db, message);
  try {
    db->db->reopen ();
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

AnnalsXstatus
annals_xdb_doc_count (AnnalsXdb *db, guint64 *count, char **message)
{
  SHIM_CHECK_OPEN (db, message);
  try {
    *count = db->db->get_doccount ();
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

AnnalsXstatus
annals_xdb_get_metadata (AnnalsXdb *db, const char *key, char **value, char **message)
{
  SHIM_CHECK_OPEN (db, message);
  try {
    std::string v = db->db->get_metadata (key);
    *value = v.empty () ? NULL : g_strndup (v.data (), v.size ());
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

AnnalsXstatus
annals_xdb_set_metadata (AnnalsXdb *db, const char *key, const char *value, char **message)
{
  SHIM_CHECK_WRITABLE (db, message);
  try {
    db->wdb->set_metadata (key, value);
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

AnnalsXstatus
annals_xdb_commit (AnnalsXdb *db, char **message)
{
  SHIM_CHECK_WRITABLE (db, message);
  try {
    db->wdb->commit ();
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

AnnalsXdoc *
annals_xdoc_new (void)
{
  try {
    return new AnnalsXdoc ();
  } catch (...) {
    return NULL;
  }
}

void
annals_xdoc_free (AnnalsXdoc *doc)
{
  delete doc;
}

void
annals_xdoc_index_text (AnnalsXdoc *doc, const char *text, const char *prefix, gboolean positions)
{
  if (doc->status != ANNALS_XSTATUS_OK)
    return;
  try {
    Xapian::TermGenerator &tg = term_generator (!positions);
    tg.set_document (doc->doc);
    if (positions) {
      tg.index_text (text, 1, prefix);
      tg.increase_termpos (); // no phrase across two fields
    } else {
      tg.index_text_without_positions (text, 1, prefix);
    }
  }
  DOC_CATCH (doc)
  // The generator holds a handle to the document, and Xapian's reference
  // counts are not atomic: let go of it here, on the thread that indexed,
  // before the document is handed to the writer thread.  (A thread's own
  // empty document: no allocation per field.)
  try {
    thread_local const Xapian::Document none;
    term_generator (!positions).set_document (none);
  }
  DOC_CATCH (doc)
}

void
annals_xdoc_add_term (AnnalsXdoc *doc, const char *term)
{
  if (doc->status != ANNALS_XSTATUS_OK)
    return;
  try {
    std::string t (term);
    if (t.size () > 240)
      t.resize (240);
    doc->doc.add_boolean_term (t);
  }
  DOC_CATCH (doc)
}

void
annals_xdoc_remove_term (AnnalsXdoc *doc, const char *term)
{
  if (doc->status != ANNALS_XSTATUS_OK)
    return;
  try {
    doc->doc.remove_term (term);
  } catch (const Xapian::InvalidArgumentError &) {
    // Not in the document: what was asked holds already.
  }
  DOC_CATCH (doc)
}

void
annals_xdoc_set_number (AnnalsXdoc *doc, guint slot, double value)
{
  if (doc->status != ANNALS_XSTATUS_OK)
    return;
  try {
    doc->doc.add_value (slot, Xapian::sortable_serialise (value));
  }
  DOC_CATCH (doc)
}

void
annals_xdoc_set_string (AnnalsXdoc *doc, guint slot, const char *value)
{
  if (doc->status != ANNALS_XSTATUS_OK)
    return;
  try {
    doc->doc.add_value (slot, value);
  }
  DOC_CATCH (doc)
}

void
annals_xdoc_set_data (AnnalsXdoc *doc, const char *data, gsize length)
{
  if (doc->status != ANNALS_XSTATUS_OK)
    return;
  try {
    doc->doc.set_data (std::string (data, length));
  }
  DOC_CATCH (doc)
}

AnnalsXstatus
annals_xdoc_get_data (AnnalsXdoc *doc, char **data, gsize *length, char **message)
{
  try {
    std::string d = doc->doc.get_data ();
    *data = g_strndup (d.data (), d.size ());
    if (length)
      *length = d.size ();
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

AnnalsXstatus
annals_xdb_replace (AnnalsXdb *db, guint64 docid, AnnalsXdoc *doc, char **message)
{
  SHIM_CHECK_WRITABLE (db, message);
  try {
    if (doc->status != ANNALS_XSTATUS_OK)
      return fail (message, doc->status, "cannot make the document: " + doc->message);
    db->wdb->replace_document ((Xapian::docid) docid, doc->doc);
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

AnnalsXstatus
annals_xdb_delete (AnnalsXdb *db, guint64 docid, gboolean *existed, char **message)
{
  SHIM_CHECK_WRITABLE (db, message);
  try {
    gboolean was = TRUE;
    try {
      db->wdb->delete_document ((Xapian::docid) docid);
    } catch (const Xapian::DocNotFoundError &) {
      was = FALSE;
    }
    if (existed)
      *existed = was;
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

AnnalsXstatus
annals_xdb_compact (AnnalsXdb *db, const char *dest, char **message)
{
  SHIM_CHECK_OPEN (db, message);
  try {
    db->db->compact (dest, Xapian::DBCOMPACT_NO_RENUMBER);
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

AnnalsXstatus
annals_xdb_get (AnnalsXdb *db, guint64 docid, AnnalsXdoc **doc, char **message)
{
  SHIM_CHECK_OPEN (db, message);
  try {
    std::unique_ptr<AnnalsXdoc> d (new AnnalsXdoc ());
    d->doc = db->db->get_document ((Xapian::docid) docid);
    *doc = d.release ();
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

AnnalsXstatus
annals_xdb_each_with_term (AnnalsXdb *db, const char *term, gboolean (*fn) (guint64, gpointer), gpointer data,
                           char **message)
{
  SHIM_CHECK_OPEN (db, message);
  try {
    std::vector<Xapian::docid> ids;
    for (auto it = db->db->postlist_begin (term); it != db->db->postlist_end (term); ++it)
      ids.push_back (*it);
    // Called after the walk: fn may change the database.
    for (Xapian::docid id : ids)
      if (!fn (id, data))
        break;
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

AnnalsXstatus
annals_xdb_number_bounds (AnnalsXdb *db, guint slot, gboolean *found, double *lo, double *hi, char **message)
{
  SHIM_CHECK_OPEN (db, message);
  try {
    std::string l = db->db->get_value_lower_bound (slot);
    std::string h = db->db->get_value_upper_bound (slot);
    *found = !l.empty () && !h.empty ();
    if (*found) {
      *lo = Xapian::sortable_unserialise (l);
      *hi = Xapian::sortable_unserialise (h);
    }
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

AnnalsXstatus
annals_xdb_max_number (AnnalsXdb *db, const char *term, guint slot, double upto, gboolean *found, double *out,
                       char **message)
{
  SHIM_CHECK_OPEN (db, message);
  try {
    Xapian::Enquire enq (*db->db);
    Xapian::Query q (term);
    if (std::isfinite (upto))
      q = Xapian::Query (Xapian::Query::OP_FILTER, q,
                         Xapian::Query (Xapian::Query::OP_VALUE_LE, slot, Xapian::sortable_serialise (upto)));
    enq.set_query (q);
    enq.set_weighting_scheme (Xapian::BoolWeight ());
    enq.set_sort_by_value (slot, true);
    Xapian::MSet m = enq.get_mset (0, 1);
    double max = m.empty () ? 0 : Xapian::sortable_unserialise (m.begin ().get_document ().get_value (slot));
    *found = !m.empty ();
    if (!m.empty ())
      *out = max;
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

// The hits of m; with a window (o->docid_max > 0), only those in it,
// o->offset of them skipped and at most o->limit kept.
static AnnalsXresults *
collect (Xapian::MSet &m, bool exact, const AnnalsXsearch *o = NULL)
{
  bool window = o != NULL && o->docid_max > 0;
  std::vector<std::string> data;
  std::vector<Xapian::MSetIterator> kept;
  guint64 skipped = 0;
  for (auto it = m.begin (); it != m.end (); ++it) {
    if (window) {
      if (*it < o->docid_min || *it > o->docid_max)
        continue;
      if (skipped < o->offset) {
        skipped++;
        continue;
      }
      if (kept.size () >= o->limit)
        break;
    }
    kept.push_back (it);
    data.push_back (it.get_document ().get_data ());
  }
  // Allocated once every read (which may throw) is done.
  auto *r = g_new0 (AnnalsXresults, 1);
  r->count_exact = exact || m.get_matches_lower_bound () == m.get_matches_upper_bound ();
  r->count = r->count_exact ? m.get_matches_lower_bound () : m.get_matches_estimated ();
  r->hits = g_new0 (AnnalsXhit, kept.size ());
  for (gsize i = 0; i < kept.size (); i++) {
    auto &it = kept[i];
    AnnalsXhit *h = &r->hits[r->n_hits++];
    h->docid = *it;
    h->percent = it.get_percent ();
    h->data = g_strndup (data[i].data (), data[i].size ());
    h->data_length = data[i].size ();
  }
  return r;
}

namespace {
// The documents lo..hi, as a filter: a window of arrival order.  Postings
// come in ascending docid only, so a newest-first page is found by
// searching windows from the top down rather than by a descending walk.
class DocidRange : public Xapian::PostingSource {
  Xapian::docid lo, hi, cur = 0;

public:
  DocidRange (Xapian::docid l, Xapian::docid h) : lo (l ? l : 1), hi (h) {}
  DocidRange *clone () const override { return new DocidRange (lo, hi); }
  void init (const Xapian::Database &) override { cur = 0; }
  Xapian::doccount get_termfreq_min () const override { return 0; }
  Xapian::doccount get_termfreq_est () const override { return hi >= lo ? hi - lo + 1 : 0; }
  Xapian::doccount get_termfreq_max () const override { return hi >= lo ? hi - lo + 1 : 0; }
  void next (double) override { cur = cur ? cur + 1 : lo; }
  void skip_to (Xapian::docid did, double) override
  {
    if (did > cur)
      cur = did < lo ? lo : did;
  }
  bool at_end () const override { return cur > hi; }
  Xapian::docid get_docid () const override { return cur; }
};
} // namespace

namespace {
std::atomic<bool> counting{ false };
std::atomic<guint64> examined{ 0 };

// Counts every document the matcher examines (annals_xdb_count_examined).
class CountExamined : public Xapian::MatchSpy {
public:
  void operator() (const Xapian::Document &, double) override { examined++; }
};
} // namespace

void
annals_xdb_count_examined (gboolean on)
{
  examined = 0;
  counting = on;
}

guint64
annals_xdb_examined (void)
{
  return examined;
}

AnnalsXstatus
annals_xstem (const char *word, char **stem, char **message)
{
  try {
    *stem = g_strdup (make_stem () (word).c_str ());
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

guint
annals_xstem_cached (void)
{
  return (guint) stem_cache.size ();
}

AnnalsXstatus
annals_xdb_last_docid (AnnalsXdb *db, guint64 *docid, char **message)
{
  SHIM_CHECK_OPEN (db, message);
  try {
    *docid = db->db->get_lastdocid ();
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

/* A reader whose database a writer changed twice since it opened gets
 * DatabaseModifiedError: it reopens at the new revision and tries once
 * more (Xapian's advice). */
template <typename F>
static AnnalsXresults *
with_reopen (AnnalsXdb *db, F run)
{
  try {
    return run ();
  } catch (const Xapian::DatabaseModifiedError &) {
    db->db->reopen ();
    return run ();
  }
}

// The part of a long text a snippet is looked for in: from a little
// before the first place a word of the query appears (ASCII case
// ignored), or the start.  Xapian reads (and stems) every character it
// is given, and a snippet is 200 bytes of it: 1 KiB from 256 bytes before
// the first match holds it, at a quarter of 4 KiB's cost.
#define SNIPPET_WINDOW 1024

static std::string
snippet_window (const std::string &text, const std::vector<std::string> &words)
{
  if (text.size () <= SNIPPET_WINDOW)
    return text;
  size_t first = text.size ();
  for (const std::string &w : words) {
    auto at = std::search (text.begin (), text.end (), w.begin (), w.end (),
                           [] (char a, char b) { return (a >= 'A' && a <= 'Z' ? a + ('a' - 'A') : a) == b; });
    if (at != text.end ())
      first = std::min (first, (size_t) (at - text.begin ()));
  }
  size_t start = first == text.size () || first < SNIPPET_WINDOW / 4 ? 0 : first - SNIPPET_WINDOW / 4;
  // On a character boundary at both ends.
  while (start > 0 && (text[start] & 0xc0) == 0x80)
    start--;
  size_t end = std::min (text.size (), start + SNIPPET_WINDOW);
  while (end < text.size () && (text[end] & 0xc0) == 0x80)
    end++;
  return text.substr (start, end - start);
}

// Each hit's snippet, from the text more->snippet_text gives for it.
static void
add_snippets (Xapian::MSet &m, const Xapian::Query &q, AnnalsXresults *r, const AnnalsXmore *more)
{
  if (more->snippet_text == NULL)
    return;
  Xapian::Stem stem = more->fold ? Xapian::Stem (new FoldingStem (more->fold, q)) : make_stem ();
  std::vector<std::string> words; // the query's words, without prefixes
  for (auto t = q.get_unique_terms_begin (); t != q.get_unique_terms_end (); ++t) {
    std::string term = *t;
    size_t at = 0;
    while (at < term.size () && term[at] >= 'A' && term[at] <= 'Z')
      at++;
    if (term.size () - at >= 2)
      words.push_back (term.substr (at));
  }
  for (guint i = 0; i < r->n_hits; i++) {
    AnnalsXhit *h = &r->hits[i];
    if (more->snippet_kept != NULL) {
      h->snippet = more->snippet_kept (h->docid, h->data, h->data_length, more->user_data);
      if (h->snippet != NULL)
        continue;
    }
    char *text = more->snippet_text (h->docid, h->data, h->data_length, more->user_data);
    if (text == NULL)
      continue;
    std::string t = snippet_window (text, words);
    g_free (text);
    // SNIPPET_CJK_NGRAM marks Chinese and Japanese words as the query
    // split them.  Nothing else, for speed: not SNIPPET_BACKGROUND_MODEL (it looks up
    // every word's frequency in the database) nor SNIPPET_EXHAUSTIVE (the
    // first good window is good enough).  Not SNIPPET_EMPTY_WITHOUT_MATCH:
    // a hit found by its subject or quoted text still shows the start of
    // what it says.
    std::string snip = m.snippet (t, more->snippet_length, stem, Xapian::MSet::SNIPPET_CJK_NGRAM, "<mark>", "</mark>",
                                  "\xe2\x80\xa6");
    h->snippet = g_strndup (snip.data (), snip.size ());
  }
}

// Quoted text (XQ) holds stems only, as the "ZXQ" terms the parser's
// STEM_SOME already gives a lowercase word (index version 4).  What it
// gives a capitalised word ("XQword") or a wildcard ("XQwor*") finds
// nothing there: rewrite_quoted() adds the stems they stand for, keeping
// the old forms for an index of version 3 not yet rebuilt.  Xapian 1.4's
// FieldProcessor cannot do it: a free-text field's processor is given
// each word lowercased and never its wildcard (which then expands over no
// prefix at all), and cannot be mixed with the field's other prefixes
// (queryparser.lemony).  Phrases are left alone: quoted text never had
// positions, so a phrase only ever matched new text.
struct QuotedRewrite {
  const Xapian::Database &db;
  Xapian::Stem stem;
  Xapian::termcount max_expansion;
  // A parsed wildcard's serialisation before its pattern's length, for
  // each combiner the parser gives one (OR, SYNONYM when it is alone).
  std::string heads[2];
};

static Xapian::Query
quoted_wildcard (const std::string &pattern, Xapian::termcount max, Xapian::Query::op combiner = Xapian::Query::OP_OR)
{
  return Xapian::Query (Xapian::Query::OP_WILDCARD, pattern, max, Xapian::Query::WILDCARD_LIMIT_ERROR, combiner);
}

// The pattern of wildcard s (a serialisation) if it is quoted text's
// ("XQ..."), else "".
static std::string
quoted_pattern (const std::string &s, const QuotedRewrite &rw)
{
  for (const std::string &head : rw.heads) {
    size_t at = head.size ();
    if (s.size () > at + 3 && s.compare (0, at, head) == 0 && (unsigned char) s[at] < 255
        && s.size () == at + 1 + (unsigned char) s[at] && s.compare (at + 1, 2, "XQ") == 0)
      return s.substr (at + 3);
  }
  return "";
}

// q with quoted text's stems added; *changed is set when it has any.
static Xapian::Query
rewrite_quoted (const Xapian::Query &q, const QuotedRewrite &rw, bool *changed)
{
  switch (q.get_type ()) {
  case Xapian::Query::LEAF_TERM: {
    std::string t = *q.get_terms_begin ();
    if (t.size () <= 2 || t.compare (0, 2, "XQ") != 0)
      return q;
    *changed = true;
    return Xapian::Query (Xapian::Query::OP_SYNONYM, q, Xapian::Query ("ZXQ" + rw.stem (t.substr (2))));
  }
  case Xapian::Query::OP_WILDCARD: {
    // Its pattern is only in its serialisation, at the end, after its
    // length (one byte below 255).
    std::string word = quoted_pattern (q.serialise (), rw);
    if (word.empty ())
      return q;
    *changed = true;
    // Stems that begin so, then the stems of the words of new text that
    // begin so ("runn*": "running", stem "run"), the vocabulary quoted
    // text mostly shares.  Not the stem of the start itself: stemmed
    // alone it is cut shorter than in a word ("happy" gives "happ",
    // which "happen" begins with).
    std::vector<Xapian::Query> alt{ q, quoted_wildcard ("ZXQ" + word, rw.max_expansion) };
    std::unordered_set<std::string> stems;
    for (auto t = rw.db.allterms_begin (word); t != rw.db.allterms_end (word); ++t) {
      std::string stem = rw.stem (*t);
      if (stem.compare (0, word.size (), word) == 0 || !stems.insert (stem).second)
        continue; // already matched by the wildcard of stems
      if (rw.max_expansion > 0 && stems.size () > rw.max_expansion)
        throw Xapian::WildcardError ("quoted text's " + word + "* expands to more than "
                                     + std::to_string (rw.max_expansion) + " words");
      alt.push_back (Xapian::Query ("ZXQ" + stem));
    }
    return Xapian::Query (Xapian::Query::OP_SYNONYM, alt.begin (), alt.end ());
  }
  case Xapian::Query::OP_AND:
  case Xapian::Query::OP_OR:
  case Xapian::Query::OP_AND_NOT:
  case Xapian::Query::OP_XOR:
  case Xapian::Query::OP_AND_MAYBE:
  case Xapian::Query::OP_FILTER:
  case Xapian::Query::OP_SYNONYM:
  case Xapian::Query::OP_MAX: {
    std::vector<Xapian::Query> subs;
    bool any = false;
    for (size_t i = 0; i < q.get_num_subqueries (); i++) {
      bool this_one = false;
      Xapian::Query now = rewrite_quoted (q.get_subquery (i), rw, &this_one);
      any = any || this_one;
      if (!this_one) {
        subs.push_back (now);
        continue;
      }
      // One synonym of every form, as the parser makes for a field's
      // prefixes, not one nested in another.
      if (q.get_type () == Xapian::Query::OP_SYNONYM && now.get_type () == Xapian::Query::OP_SYNONYM)
        for (size_t j = 0; j < now.get_num_subqueries (); j++)
          subs.push_back (now.get_subquery (j));
      else
        subs.push_back (now);
    }
    *changed = *changed || any;
    return any ? Xapian::Query (q.get_type (), subs.begin (), subs.end ()) : q;
  }
  default:
    // Phrases, NEAR, weights, ranges: as parsed.
    return q;
  }
}

AnnalsXstatus
annals_xdb_search_more (AnnalsXdb *db, const char *query, const AnnalsXsearch *o, const AnnalsXmore *more,
                        AnnalsXresults **results, char **message)
{
  SHIM_CHECK_OPEN (db, message);
  try {
    Xapian::QueryParser qp;
    qp.set_database (*db->db);
    qp.set_stemmer (make_stem ());
    qp.set_stemming_strategy (Xapian::QueryParser::STEM_SOME);
    qp.set_default_op (Xapian::Query::OP_AND);
    qp.set_max_expansion (o->max_expansion, Xapian::Query::WILDCARD_LIMIT_ERROR);
    for (guint i = 0; i < o->n_fields; i++) {
      if (o->fields[i].boolean)
        qp.add_boolean_prefix (o->fields[i].field, o->fields[i].prefix);
      else
        qp.add_prefix (o->fields[i].field, o->fields[i].prefix);
    }
    Xapian::NumberRangeProcessor dates (ANNALS_XSLOT_DATE, "d:");
    Xapian::NumberRangeProcessor receipts (ANNALS_XSLOT_RECEIPT, "rt:");
    qp.add_rangeprocessor (&dates);
    qp.add_rangeprocessor (&receipts);
    unsigned flags = Xapian::QueryParser::FLAG_BOOLEAN | Xapian::QueryParser::FLAG_PHRASE
                     | Xapian::QueryParser::FLAG_LOVEHATE | Xapian::QueryParser::FLAG_WILDCARD
                     | Xapian::QueryParser::FLAG_CJK_NGRAM;
    QuotedRewrite rw{ *db->db, make_stem (), o->max_expansion, {} };
    for (int i = 0; i < 2; i++) {
      rw.heads[i]
          = quoted_wildcard ("", o->max_expansion, i ? Xapian::Query::OP_SYNONYM : Xapian::Query::OP_OR).serialise ();
      rw.heads[i].pop_back (); // the pattern's length, 0
    }
    bool rewritten = false;
    Xapian::Query q = rewrite_quoted (qp.parse_query (query, flags), rw, &rewritten);
    if (q.empty ())
      return fail (message, ANNALS_XSTATUS_QUERY_SYNTAX,
                   "the query has nothing to look for (a query of only NOT or '-' terms is refused)");
    // A posting source sees each shard's own ids: with several, the
    // window of combined ids (combined = (own - 1) * shards + shard + 1)
    // becomes a slightly wider one of own ids in every shard, and the
    // few hits outside it are dropped in collect().
    size_t shards = db->db->size ();
    guint64 widen = 0;
    if (o->docid_max > 0) {
      guint64 lo = o->docid_min, hi = o->docid_max;
      if (shards > 1) {
        lo = (lo > 0 ? lo - 1 : 0) / shards;
        hi = (hi - 1) / shards + 1;
        widen = 2 * (guint64) shards;
      }
      q = Xapian::Query (Xapian::Query::OP_FILTER, q,
                         Xapian::Query ((new DocidRange ((Xapian::docid) lo, (Xapian::docid) hi))->release ()));
    }
    *results = with_reopen (db, [&] () {
      Xapian::Enquire enq (*db->db);
      enq.set_query (q);
      // A window's page is taken from its start in collect().
      guint64 first = o->docid_max > 0 ? 0 : o->offset;
      guint64 size = o->docid_max > 0 ? o->offset + o->limit + widen : o->limit;
      if (!o->relevance && o->arrival_order) {
        // Every match weighs 0, and the page is the highest docids.
        // Postings come in ascending docid, so a descending page needs
        // every match the filter lets through (a window keeps that
        // small).  A count alone (no page) keeps Xapian's ascending
        // order: only there does a boolean match stop after
        // check_at_least matches; descending, it walks every match.
        enq.set_weighting_scheme (Xapian::BoolWeight ());
        if (first + size > 0)
          enq.set_docid_order (Xapian::Enquire::DESCENDING);
      } else if (!o->relevance) {
        enq.set_sort_by_value_then_relevance (ANNALS_XSLOT_DATE, true);
      }
      if (o->collapse_threads)
        enq.set_collapse_key (ANNALS_XSLOT_THREAD);
      CountExamined spy;
      if (counting)
        enq.add_matchspy (&spy);
      Xapian::doccount all = db->db->get_doccount ();
      guint64 at_least = more != NULL ? more->check_at_least : 0;
      Xapian::doccount check = at_least >= all ? all : (Xapian::doccount) at_least;
      Xapian::MSet m = enq.get_mset ((Xapian::doccount) first, (Xapian::doccount) MIN (size, G_MAXUINT32), check);
      // Freed if a snippet throws (out of memory), or a retry would leak it.
      std::unique_ptr<AnnalsXresults, void (*) (AnnalsXresults *)> r (collect (m, check >= all, o),
                                                                      annals_xresults_free);
      if (more != NULL)
        add_snippets (m, q, r.get (), more);
      return r.release ();
    });
    return ANNALS_XSTATUS_OK;
  } catch (const Xapian::WildcardError &e) {
    if (message != NULL)
      *message = g_strdup_printf ("a wildcard matches too many terms (%s): make it longer", e.get_msg ().c_str ());
    return ANNALS_XSTATUS_WILDCARD_TOO_BROAD;
  } catch (const Xapian::QueryParserError &e) {
    if (message != NULL)
      *message = g_strdup_printf ("query syntax: %s", e.get_msg ().c_str ());
    return ANNALS_XSTATUS_QUERY_SYNTAX;
  }
  SHIM_CATCH (message)
}

AnnalsXstatus
annals_xdb_search (AnnalsXdb *db, const char *query, const AnnalsXsearch *o, gboolean exact_count,
                   AnnalsXresults **results, char **message)
{
  AnnalsXmore more = {};
  more.check_at_least = exact_count ? G_MAXUINT64 : 0;
  return annals_xdb_search_more (db, query, o, &more, results, message);
}

AnnalsXstatus
annals_xdb_search_term (AnnalsXdb *db, const char *term, const AnnalsXsearch *o, gboolean oldest_first,
                        AnnalsXresults **results, char **message)
{
  SHIM_CHECK_OPEN (db, message);
  try {
    *results = with_reopen (db, [&] () {
      Xapian::Enquire enq (*db->db);
      enq.set_query (*term ? Xapian::Query (term) : Xapian::Query::MatchAll);
      enq.set_sort_by_value (ANNALS_XSLOT_DATE, !oldest_first);
      if (o->collapse_threads)
        enq.set_collapse_key (ANNALS_XSLOT_THREAD);
      Xapian::MSet m = enq.get_mset ((Xapian::doccount) o->offset, (Xapian::doccount) o->limit);
      return collect (m, false);
    });
    return ANNALS_XSTATUS_OK;
  }
  SHIM_CATCH (message)
}

void
annals_xresults_free (AnnalsXresults *r)
{
  if (r == NULL)
    return;
  for (guint i = 0; i < r->n_hits; i++) {
    g_free (r->hits[i].data);
    g_free (r->hits[i].snippet);
  }
  g_free (r->hits);
  g_free (r);
}
