// xapian-shim: see xapian-shim.h.  Every entry point catches
// Xapian::Error, std::exception and anything else: nothing is thrown
// across the C boundary.
#include "indexer/xapian-shim.h"

#include <xapian.h>

#include <cstring>
#include <memory>
#include <string>
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

static AnnalsXresults *
collect (Xapian::MSet &m, bool exact)
{
  auto *r = g_new0 (AnnalsXresults, 1);
  r->count = exact ? m.get_matches_lower_bound () : m.get_matches_estimated ();
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

guint64
annals_xdb_last_docid (AnnalsXdb *db)
{
  try {
    return db->db->get_lastdocid ();
  } catch (...) {
    return 0;
  }
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
    if (o->docid_max > 0)
      q = Xapian::Query (Xapian::Query::OP_FILTER, q,
                         Xapian::Query ((new DocidRange ((Xapian::docid) o->docid_min, (Xapian::docid) o->docid_max))
                                          ->release ()));
    Xapian::Enquire enq (*db->db);
    enq.set_query (q);
    if (!o->relevance && o->arrival_order) {
      // Every match weighs 0: the matcher walks the postings by
      // descending docid and stops once it has the page.
      enq.set_weighting_scheme (Xapian::BoolWeight ());
      enq.set_docid_order (Xapian::Enquire::DESCENDING);
    } else if (!o->relevance)
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
  for (guint i = 0; i < r->n_hits; i++)
    g_free (r->hits[i].data);
  g_free (r->hits);
  g_free (r);
}
