// xapian-shim: see xapian-shim.h.  Every entry point catches
// Xapian::Error, std::exception and anything else: nothing is thrown
// across the C boundary.
#include "xapian-shim.h"

#include <xapian.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

struct _AnnalsXdb {
  Xapian::Database *db;         // the read view (the writable one when writable)
  Xapian::WritableDatabase *wdb; // NULL when read-only
};

struct _AnnalsXdoc {
  Xapian::Document doc;
};

namespace {

// English suffixes first, then French: one stem for both languages of the
// coalition, the same at index and query time.
class EnglishFrenchStem : public Xapian::StemImplementation {
  Xapian::Stem english{"english"};
  Xapian::Stem french{"french"};

public:
  std::string operator() (const std::string &word) override { return french (english (word)); }
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
    char *f = fold (word.c_str ());
    std::string folded (f ? f : word.c_str ());
    g_free (f);
    if (starts.count (folded.substr (0, 2)) == 0)
      return folded;
    return stem (folded);
  }
  std::string get_description () const override { return "annals folding english+french"; }
};

Xapian::TermGenerator &
term_generator ()
{
  thread_local Xapian::TermGenerator tg;
  thread_local bool ready = false;
  if (!ready) {
    tg.set_stemmer (make_stem ());
    tg.set_stemming_strategy (Xapian::TermGenerator::STEM_SOME);
    ready = true;
  }
  return tg;
}

void
set_error (char **error, const std::string &what)
{
  if (error != NULL)
    *error = g_strdup (what.c_str ());
}

#define SHIM_CATCH(error, fail)                                   \
  catch (const Xapian::Error &e)                                  \
  {                                                               \
    set_error (error, e.get_description ());                      \
    return fail;                                                  \
  }                                                               \
  catch (const std::exception &e)                                 \
  {                                                               \
    set_error (error, e.what ());                                 \
    return fail;                                                  \
  }                                                               \
  catch (...)                                                     \
  {                                                               \
    set_error (error, "unknown error in Xapian");                 \
    return fail;                                                  \
  }

} // namespace

AnnalsXdb *
annals_xdb_open_writable (const char *path, gboolean create, AnnalsXdbFailure *failure, char **error)
{
  AnnalsXdbFailure ignored;
  AnnalsXdbFailure &why = failure ? *failure : ignored;
  why = ANNALS_XDB_FAILED;
  try {
    // Never DB_CREATE_OR_OPEN: a kill inside the creation leaves a folder
    // without its revision file, so callers create beside and rename.
    auto *w = new Xapian::WritableDatabase (path, create ? Xapian::DB_CREATE : Xapian::DB_OPEN);
    AnnalsXdb *db = g_new0 (AnnalsXdb, 1);
    db->wdb = w;
    db->db = w;
    return db;
  } catch (const Xapian::DatabaseLockError &e) {
    why = ANNALS_XDB_LOCKED;
    set_error (error, e.get_description ());
    return nullptr;
  } catch (const Xapian::DatabaseCorruptError &e) {
    why = ANNALS_XDB_DAMAGED;
    set_error (error, e.get_description ());
    return nullptr;
  } catch (const Xapian::DatabaseVersionError &e) {
    why = ANNALS_XDB_DAMAGED;
    set_error (error, e.get_description ());
    return nullptr;
  } catch (const Xapian::DatabaseNotFoundError &e) {
    // "Couldn't detect type of database": the folder is there, its
    // revision file is not.
    why = create ? ANNALS_XDB_FAILED : ANNALS_XDB_DAMAGED;
    set_error (error, e.get_description ());
    return nullptr;
  }
  SHIM_CATCH (error, nullptr)
}

AnnalsXdb *
annals_xdb_open_readonly (const char *const *paths, guint count, char **error)
{
  try {
    auto *d = new Xapian::Database ();
    for (guint i = 0; i < count; i++)
      d->add_database (Xapian::Database (paths[i]));
    AnnalsXdb *db = g_new0 (AnnalsXdb, 1);
    db->db = d;
    return db;
  }
  SHIM_CATCH (error, nullptr)
}

void
annals_xdb_close (AnnalsXdb *db)
{
  if (db == NULL)
    return;
  try {
    if (db->wdb != NULL) {
      db->wdb->close ();
      delete db->wdb;
    } else {
      delete db->db;
    }
  } catch (...) {
  }
  g_free (db);
}

guint64
annals_xdb_doc_count (AnnalsXdb *db)
{
  try {
    return db->db->get_doccount ();
  } catch (...) {
    return 0;
  }
}

char *
annals_xdb_get_metadata (AnnalsXdb *db, const char *key)
{
  try {
    std::string v = db->db->get_metadata (key);
    if (v.empty ())
      return NULL;
    return g_strndup (v.data (), v.size ());
  } catch (...) {
    return NULL;
  }
}

gboolean
annals_xdb_set_metadata (AnnalsXdb *db, const char *key, const char *value, char **error)
{
  try {
    db->wdb->set_metadata (key, value);
    return TRUE;
  }
  SHIM_CATCH (error, FALSE)
}

gboolean
annals_xdb_commit (AnnalsXdb *db, char **error)
{
  try {
    db->wdb->commit ();
    return TRUE;
  }
  SHIM_CATCH (error, FALSE)
}

AnnalsXdoc *
annals_xdoc_new (void)
{
  return new AnnalsXdoc ();
}

void
annals_xdoc_free (AnnalsXdoc *doc)
{
  delete doc;
}

void
annals_xdoc_index_text (AnnalsXdoc *doc, const char *text, const char *prefix, gboolean positions)
{
  try {
    Xapian::TermGenerator &tg = term_generator ();
    tg.set_document (doc->doc);
    if (positions) {
      tg.index_text (text, 1, prefix);
      tg.increase_termpos (); // no phrase across two fields
    } else {
      tg.index_text_without_positions (text, 1, prefix);
    }
  } catch (...) {
  }
  // The generator holds a handle to the document, and Xapian's reference
  // counts are not atomic: let go of it here, on the thread that indexed,
  // before the document is handed to the writer thread.  (A thread's own
  // empty document: no allocation per field.)
  thread_local const Xapian::Document none;
  term_generator ().set_document (none);
}

void
annals_xdoc_add_term (AnnalsXdoc *doc, const char *term)
{
  try {
    std::string t (term);
    if (t.size () > 240)
      t.resize (240);
    doc->doc.add_boolean_term (t);
  } catch (...) {
  }
}

void
annals_xdoc_remove_term (AnnalsXdoc *doc, const char *term)
{
  try {
    doc->doc.remove_term (term);
  } catch (...) {
  }
}

void
annals_xdoc_set_number (AnnalsXdoc *doc, guint slot, double value)
{
  doc->doc.add_value (slot, Xapian::sortable_serialise (value));
}

void
annals_xdoc_set_string (AnnalsXdoc *doc, guint slot, const char *value)
{
  doc->doc.add_value (slot, value);
}

void
annals_xdoc_set_data (AnnalsXdoc *doc, const char *data, gsize length)
{
  doc->doc.set_data (std::string (data, length));
}

char *
annals_xdoc_get_data (AnnalsXdoc *doc, gsize *length)
{
  try {
    std::string d = doc->doc.get_data ();
    if (length)
      *length = d.size ();
    return g_strndup (d.data (), d.size ());
  } catch (...) {
    if (length)
      *length = 0;
    return g_strdup ("");
  }
}

gboolean
annals_xdb_replace (AnnalsXdb *db, guint64 docid, AnnalsXdoc *doc, char **error)
{
  try {
    db->wdb->replace_document ((Xapian::docid) docid, doc->doc);
    return TRUE;
  }
  SHIM_CATCH (error, FALSE)
}

gboolean
annals_xdb_delete (AnnalsXdb *db, guint64 docid, gboolean *existed, char **error)
{
  if (existed)
    *existed = FALSE;
  try {
    db->wdb->delete_document ((Xapian::docid) docid);
    if (existed)
      *existed = TRUE;
    return TRUE;
  } catch (const Xapian::DocNotFoundError &) {
    return TRUE;
  }
  SHIM_CATCH (error, FALSE)
}

gboolean
annals_xdb_compact (AnnalsXdb *db, const char *dest, char **error)
{
  try {
    db->db->compact (dest, Xapian::DBCOMPACT_NO_RENUMBER);
    return TRUE;
  }
  SHIM_CATCH (error, FALSE)
}

AnnalsXdoc *
annals_xdb_get (AnnalsXdb *db, guint64 docid, char **error)
{
  try {
    auto *d = new AnnalsXdoc ();
    d->doc = db->db->get_document ((Xapian::docid) docid);
    return d;
  } catch (const Xapian::DocNotFoundError &) {
    return NULL;
  }
  SHIM_CATCH (error, nullptr)
}

gboolean
annals_xdb_each_with_term (AnnalsXdb *db, const char *term, gboolean (*fn) (guint64, gpointer), gpointer data,
                           char **error)
{
  try {
    std::vector<Xapian::docid> ids;
    for (auto it = db->db->postlist_begin (term); it != db->db->postlist_end (term); ++it)
      ids.push_back (*it);
    // Called after the walk: fn may change the database.
    for (Xapian::docid id : ids)
      if (!fn (id, data))
        break;
    return TRUE;
  }
  SHIM_CATCH (error, FALSE)
}

gboolean
annals_xdb_max_number (AnnalsXdb *db, const char *term, guint slot, double *out, char **error)
{
  try {
    Xapian::Enquire enq (*db->db);
    enq.set_query (Xapian::Query (term));
    enq.set_weighting_scheme (Xapian::BoolWeight ());
    enq.set_sort_by_value (slot, true);
    Xapian::MSet m = enq.get_mset (0, 1);
    if (m.empty ())
      return FALSE;
    *out = Xapian::sortable_unserialise (m.begin ().get_document ().get_value (slot));
    return TRUE;
  }
  SHIM_CATCH (error, FALSE)
}

static AnnalsXresults *
collect (Xapian::MSet &m, bool exact)
{
  auto *r = g_new0 (AnnalsXresults, 1);
  r->count_exact = m.get_matches_lower_bound () == m.get_matches_upper_bound ();
  r->count = exact || r->count_exact ? m.get_matches_lower_bound () : m.get_matches_estimated ();
  r->hits = g_new0 (AnnalsXhit, m.size ());
  for (auto it = m.begin (); it != m.end (); ++it) {
    AnnalsXhit *h = &r->hits[r->n_hits++];
    h->docid = *it;
    h->percent = it.get_percent ();
    std::string d = it.get_document ().get_data ();
    h->data = g_strndup (d.data (), d.size ());
    h->data_length = d.size ();
  }
  return r;
}

AnnalsXresults *
annals_xdb_search (AnnalsXdb *db, const char *query, const AnnalsXsearch *o, gboolean exact_count, char **error)
{
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
                     | Xapian::QueryParser::FLAG_LOVEHATE | Xapian::QueryParser::FLAG_WILDCARD;
    Xapian::Query q = qp.parse_query (query, flags);
    if (q.empty ()) {
      set_error (error, "the query has nothing to look for (a query of only NOT or '-' terms is refused)");
      return NULL;
    }
    Xapian::Enquire enq (*db->db);
    enq.set_query (q);
    if (!o->relevance)
      enq.set_sort_by_value_then_relevance (ANNALS_XSLOT_DATE, true);
    if (o->collapse_threads)
      enq.set_collapse_key (ANNALS_XSLOT_THREAD);
    Xapian::MSet m = enq.get_mset ((Xapian::doccount) o->offset, (Xapian::doccount) o->limit,
                                   exact_count ? db->db->get_doccount () : 0);
    return collect (m, exact_count);
  } catch (const Xapian::WildcardError &e) {
    set_error (error, "a wildcard matches too many terms (" + e.get_msg () + "): make it longer");
    return NULL;
  } catch (const Xapian::QueryParserError &e) {
    set_error (error, "query syntax: " + e.get_msg ());
    return NULL;
  }
  SHIM_CATCH (error, nullptr)
}

// The part of a long text a snippet is looked for in: from a little
// before the first place a word of the query appears (ASCII case
// ignored), or the start.  Xapian reads every character it is given, and
// a snippet is a few hundred bytes of it.
#define SNIPPET_WINDOW 4096

static std::string
snippet_window (const std::string &text, const std::vector<std::string> &words)
{
  if (text.size () <= SNIPPET_WINDOW)
    return text;
  size_t first = text.size ();
  for (const std::string &w : words) {
    auto at = std::search (text.begin (), text.end (), w.begin (), w.end (),
                           [] (char a, char b) { return g_ascii_tolower (a) == b; });
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
  for (guint i = 0; more->snippet_text != NULL && i < r->n_hits; i++) {
    AnnalsXhit *h = &r->hits[i];
    char *text = more->snippet_text (h->docid, h->data, h->data_length, more->user_data);
    if (text == NULL)
      continue;
    std::string t = snippet_window (text, words);
    g_free (text);
    // No flags, for speed: not SNIPPET_BACKGROUND_MODEL (it looks up
    // every word's frequency in the database) nor SNIPPET_EXHAUSTIVE (the
    // first good window is good enough).  Not SNIPPET_EMPTY_WITHOUT_MATCH:
    // a hit found by its subject or quoted text still shows the start of
    // what it says.
    std::string snip = m.snippet (t, more->snippet_length, stem, 0, "<mark>", "</mark>", "\xe2\x80\xa6");
    h->snippet = g_strndup (snip.data (), snip.size ());
  }
}

AnnalsXresults *
annals_xdb_search_more (AnnalsXdb *db, const char *query, const AnnalsXsearch *o, const AnnalsXmore *more, char **error)
{
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
                     | Xapian::QueryParser::FLAG_LOVEHATE | Xapian::QueryParser::FLAG_WILDCARD;
    Xapian::Query q = qp.parse_query (query, flags);
    if (q.empty ()) {
      set_error (error, "the query has nothing to look for (a query of only NOT or '-' terms is refused)");
      return NULL;
    }
    Xapian::Enquire enq (*db->db);
    enq.set_query (q);
    if (!o->relevance)
      enq.set_sort_by_value_then_relevance (ANNALS_XSLOT_DATE, true);
    if (o->collapse_threads)
      enq.set_collapse_key (ANNALS_XSLOT_THREAD);
    Xapian::doccount all = db->db->get_doccount ();
    Xapian::doccount check = more->check_at_least >= all ? all : (Xapian::doccount) more->check_at_least;
    Xapian::MSet m = enq.get_mset ((Xapian::doccount) o->offset, (Xapian::doccount) o->limit, check);
    AnnalsXresults *r = collect (m, false);
    try {
      add_snippets (m, q, r, more);
    } catch (...) {
      annals_xresults_free (r);
      throw;
    }
    return r;
  } catch (const Xapian::WildcardError &e) {
    set_error (error, "a wildcard matches too many terms (" + e.get_msg () + "): make it longer");
    return NULL;
  } catch (const Xapian::QueryParserError &e) {
    set_error (error, "query syntax: " + e.get_msg ());
    return NULL;
  }
  SHIM_CATCH (error, nullptr)
}

AnnalsXresults *
annals_xdb_search_term (AnnalsXdb *db, const char *term, const AnnalsXsearch *o, gboolean oldest_first, char **error)
{
  try {
    Xapian::Enquire enq (*db->db);
    enq.set_query (*term ? Xapian::Query (term) : Xapian::Query::MatchAll);
    enq.set_sort_by_value (ANNALS_XSLOT_DATE, !oldest_first);
    if (o->collapse_threads)
      enq.set_collapse_key (ANNALS_XSLOT_THREAD);
    Xapian::MSet m = enq.get_mset ((Xapian::doccount) o->offset, (Xapian::doccount) o->limit);
    return collect (m, false);
  }
  SHIM_CATCH (error, nullptr)
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
