//! The embedded search backend: a tantivy index over short documents (one fact or definition each),
//! built from a JSON Lines corpus (gzip or plain). `serve` builds it on first start, and rebuilds it
//! when the corpus changes (a stamp file records which corpus an index was built from).
//!
//! Searches run on the bounded search pool ([`super::pool`]), through [`super::BlockingSearch`]:
//! a query over the 12 MB default index takes well under a millisecond, but one over a multi-gigabyte
//! Wikipedia index can take hundreds, which on a serving thread would stall that core's other
//! requests and escape `search.timeout_ms`. The pool measures the search's thread CPU time there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use futures_util::future::BoxFuture;
use levenshtein_automata::LevenshteinAutomatonBuilder;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TantivyDocument, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{doc, Index, IndexReader, ReloadPolicy, Term};

use super::evidence::{entity, life_sentences, looks_like_a_name, normalize_question};
use super::ingest::{IngestOptions, Progress};
use super::question::words;
use super::{question, BlockingSearch, Hit, SearchBackend, SearchError};
use crate::classify::text::is_stopword;
use crate::Error;

/// What the index is built from; ingestion (below this module) owns the type.
pub(crate) use super::ingest::CorpusDoc;

const STAMP_FILE: &str = "ecoroute-corpus.stamp";
/// Bump when the schema or the analysis changes: the stamp then differs and the index is rebuilt.
const INDEX_SCHEMA_VERSION: u32 = 9;
const TITLE_KEY_BOOST: f32 = 8.0;
const PHRASE_KEY_BOOST: f32 = 2.0;
const MAX_QUERY_TERMS: usize = 16;
/// Weight of two neighbouring question words found near each other in a document (at most
/// `PAIR_SLOP` words apart: "president of the United States").
const PAIR_BOOST: f32 = 0.5;
/// The weight of the whole question's words said in its order ([`whole_run_query`]).
const RUN_BOOST: f32 = 1.0;
const PAIR_SLOP: u32 = 2;
/// Forms of each word tried per pair ("tallest mountain", "highest mountain").
const PAIR_FORMS: usize = 3;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    /// The title's subject, lower-cased and untokenized ("Lima, Peru" → "lima"), so a question
    /// whose content words are exactly a headword finds that entry first.
    title_key: Field,
    body: Field,
    text: Field,
    source: Field,
    url: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    // Frequencies and positions: a question's words are searched as a bag, and two of them that
    // stand together in the question ("first president", "largest ocean") count more where they
    // stand together in a document too (`PAIR_BOOST`): without that, short glosses that hold the
    // words apart ("the first woman to run for the United States presidency") outrank the entry
    // that says it. Title and text are searched as one field (`body`, the title written twice so its words weigh
    // more): a question's word is then one posting list, and intersecting plain posting lists is
    // several times cheaper than intersecting per-word unions of a title and a text list.
    let indexed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("en_stem")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        title: builder.add_text_field("title", STORED),
        title_key: builder.add_text_field("title_key", STRING),
        body: builder.add_text_field("body", indexed),
        text: builder.add_text_field("text", STORED),
        source: builder.add_text_field("source", STORED),
        url: builder.add_text_field("url", STORED),
    };
    (builder.build(), fields)
}

fn index_err(context: &str) -> impl Fn(tantivy::TantivyError) -> Error + '_ {
    move |e| Error::index_from(context, e)
}

pub struct EmbeddedIndex {
    reader: IndexReader,
    fields: Fields,
    analyzer: TextAnalyzer,
    docs: u64,
    /// The language of an index built for a language pack: a question is read with the pack's
    /// stopwords and word groups. Every index's words are folded (accents off).
    pack: Option<Arc<dyn QueryWords>>,
}

/// How an index built for a language reads a question: its keywords (the language's stopwords
/// out, folded) and the forms each may be found by (its word group). `lang`'s packs implement it;
/// this module sits below them.
pub(crate) trait QueryWords: Send + Sync {
    fn keywords(&self, question: &str) -> Vec<String>;
    fn surface_forms(&self, keyword: &str) -> Vec<String>;
}

impl EmbeddedIndex {
    /// Opens the index in `dir`, building it from `corpus` (a file or a folder, see
    /// [`super::ingest`]) first if it is missing or was built from another version of the corpus.
    ///
    /// An index that was not built from this corpus (another corpus, or files ecoroute did not
    /// write) is never overwritten: that is a team's own index, and the error says what to set.
    pub(crate) fn open_or_build(dir: &Path, corpus: &Path) -> Result<EmbeddedIndex, Error> {
        Self::open_or_build_for(dir, corpus, None)
    }

    /// [`EmbeddedIndex::open_or_build`] for a language pack's corpus (`None`: English).
    pub(crate) fn open_or_build_for(
        dir: &Path,
        corpus: &Path,
        pack: Option<Arc<dyn QueryWords>>,
    ) -> Result<EmbeddedIndex, Error> {
        let stamp = corpus_stamp(corpus)?;
        let current = std::fs::read_to_string(dir.join(STAMP_FILE)).ok();
        let rebuild = match current.as_deref() {
            Some(current) if current == stamp => false,
            Some(current) => match (built_from(current), built_from(&stamp)) {
                (Some(theirs), Some(ours)) if theirs != ours => {
                    return Err(Error::index(format!(
                        "search.index_dir {} was built from {theirs}, not from search.corpus {}; ecoroute will not overwrite it. \
                         Fix: set search.corpus = \"{theirs}\" to serve that index (rebuilt when that corpus changes), \
                         or point search.index_dir at another folder",
                        dir.display(),
                        corpus.display()
                    )))
                }
                // Same corpus, changed since (or an index from an older ecoroute): rebuild.
                _ => true,
            },
            None if holds_files(dir) => {
                return Err(Error::index(format!(
                    "search.index_dir {} holds files but no {STAMP_FILE}: it was not built by ecoroute, which will not overwrite it. \
                     Fix: point search.index_dir at an empty or new folder, or build this one with \
                     `ecoroute index build --input {} --output {}`",
                    dir.display(),
                    corpus.display(),
                    dir.display()
                )))
            }
            None => true,
        };
        if rebuild {
            tracing::info!(index = %dir.display(), corpus = %corpus.display(), "building the search index (first start or corpus changed)");
            let started = std::time::Instant::now();
            let options = IngestOptions::default();
            let count = Self::build_stamped(dir, corpus, &stamp, pack.is_some(), &options, &Progress::default())?;
            tracing::info!(
                documents = count,
                seconds = started.elapsed().as_secs_f64(),
                "search index built"
            );
        }
        let mut index = Self::open(dir)?;
        index.pack = pack;
        Ok(index)
    }

    /// Whether `index build` may replace `dir` with a new index: it must be empty, missing, or an
    /// index ecoroute built (it holds the stamp), and must not hold the input. A build replaces the
    /// folder whole, so a folder of a team's own files would be lost.
    pub(crate) fn check_replaceable(dir: &Path, corpus: &Path) -> Result<(), Error> {
        let inside = |p: &Path| {
            let (Ok(dir), Ok(p)) = (dir.canonicalize(), p.canonicalize()) else {
                return false;
            };
            p.starts_with(&dir)
        };
        if inside(corpus) {
            return Err(Error::index(format!(
                "--output {} holds the input {}: building would delete it. Fix: choose an output folder outside the input",
                dir.display(),
                corpus.display()
            )));
        }
        if holds_files(dir) && !dir.join(STAMP_FILE).exists() {
            return Err(Error::index(format!(
                "--output {} holds files but no {STAMP_FILE}: it is not an index ecoroute built, and building would delete \
                 what it holds. Fix: choose an empty or new folder",
                dir.display()
            )));
        }
        Ok(())
    }

    /// Builds the index in `dir` from a corpus file or folder and stamps it with the corpus it came
    /// from, so `serve` will not build it again. Returns the number of documents.
    pub fn build(dir: &Path, corpus: &Path) -> Result<u64, Error> {
        Self::build_with(dir, corpus, &IngestOptions::default(), &Progress::default())
    }

    /// [`EmbeddedIndex::build`] with the choices for public dumps, reporting how far it has got.
    pub(crate) fn build_with(
        dir: &Path,
        corpus: &Path,
        options: &IngestOptions,
        progress: &Progress,
    ) -> Result<u64, Error> {
        Self::build_stamped(dir, corpus, &corpus_stamp(corpus)?, false, options, progress)
    }

    /// Builds the index (for a language pack's corpus when `for_pack`) and writes the corpus
    /// `stamp` it was built from.
    fn build_stamped(
        dir: &Path,
        corpus: &Path,
        stamp: &str,
        for_pack: bool,
        options: &IngestOptions,
        progress: &Progress,
    ) -> Result<u64, Error> {
        let count = build_index(dir, for_pack, |sink| {
            super::ingest::read_into(corpus, options, progress, sink)
        })?;
        std::fs::write(dir.join(STAMP_FILE), stamp)
            .map_err(|e| Error::io(format!("writing {}", dir.join(STAMP_FILE).display()), e))?;
        Ok(count)
    }

    pub fn open(dir: &Path) -> Result<EmbeddedIndex, Error> {
        let index = Index::open_in_dir(dir).map_err(index_err("opening the search index"))?;
        Self::from_index(index)
    }

    /// An index held in memory, for tests and small corpora.
    // Only the tests build an index in memory; serving opens one on disk.
    #[cfg(test)]
    fn in_memory(docs: impl IntoIterator<Item = Result<CorpusDoc, Error>>) -> Result<EmbeddedIndex, Error> {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        let mut writer = DocWriter::new(&index, fields, false)?;
        for doc in docs {
            writer.add(doc?)?;
        }
        writer.finish()?;
        Self::from_index(index)
    }

    fn from_index(index: Index) -> Result<EmbeddedIndex, Error> {
        let (expected, fields) = schema();
        if index.schema() != expected {
            return Err(Error::index(
                "the index was built by another version of ecoroute; rebuild it with `ecoroute index build`",
            ));
        }
        let analyzer = index
            .tokenizer_for_field(fields.body)
            .map_err(index_err("loading the tokenizer"))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(index_err("opening a reader"))?;
        let docs = reader.searcher().num_docs();
        Ok(EmbeddedIndex {
            reader,
            fields,
            analyzer,
            docs,
            pack: None,
        })
    }

    pub(crate) fn num_docs(&self) -> u64 {
        self.docs
    }

    /// BM25 over title (boosted) and text, from the question's content words.
    ///
    /// Documents with every content word of the question come first; the list is filled up with
    /// documents that hold only some of them. Typed questions carry words no passage repeats
    /// ("how many bones in the human body" against "…206 bones by adulthood"), and the reader, not
    /// retrieval, judges whether a passage answers.
    pub fn search_sync(&self, query: &str, limit: usize) -> Result<Vec<Hit>, SearchError> {
        #[cfg(feature = "test-hooks")]
        test_hooks::slow_search(query);
        // "What is bandwidth in networking": documents naming both words in passing outrank the
        // entry of "bandwidth", so the term is also searched alone and the two lists alternate
        // (the whole question still finds "Network Address Translation" for "nat in networking",
        // where "nat" alone finds a town). The reader picks the field's sense among them.
        match question::in_field(query) {
            Some((definition, _)) => {
                let alone = self.search_inner(&definition, limit, true)?;
                let whole = self.search_inner(query, limit, true)?;
                Ok(alternate(alone, whole, limit))
            }
            None => self.search_inner(query, limit, true),
        }
    }

    fn search_inner(&self, query: &str, limit: usize, fill: bool) -> Result<Vec<Hit>, SearchError> {
        let limit = limit.max(1);
        let query = &*question::spell_signs(query);
        let mut analyzer = self.analyzer.clone();
        let mut per_word: Vec<Box<dyn Query>> = Vec::new();
        let content: Vec<String> = match &self.pack {
            Some(pack) => pack.keywords(query).into_iter().take(MAX_QUERY_TERMS).collect(),
            None => words(&normalize_question(query))
                .filter(|w| !is_stopword(w))
                .take(MAX_QUERY_TERMS)
                .collect(),
        };
        // A document whose subject is exactly the question's words ("compiler" for "what is a
        // compiler") ranks first; one whose subject is a phrase of the question ("silver" in
        // "atomic number of silver") ranks above entries that merely repeat its other words.
        let key = |phrase: &str, boost: f32| -> (Occur, Box<dyn Query>) {
            (
                Occur::Should,
                Box::new(BoostQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_field_text(self.fields.title_key, phrase),
                        IndexRecordOption::Basic,
                    )),
                    boost,
                )),
            )
        };
        let mut keys = vec![key(&content.join(" "), TITLE_KEY_BOOST)];
        for n in 1..content.len().min(4) {
            for phrase in content.windows(n) {
                keys.push(key(&phrase.join(" "), PHRASE_KEY_BOOST));
            }
        }
        let key_query: Box<dyn Query> = Box::new(BooleanQuery::new(keys));
        let searcher = self.reader.searcher();
        let mut typos: Vec<String> = Vec::new();
        // Per content word, the forms the index has as one word each: what `pair_query` pairs.
        let mut pair_forms: Vec<Vec<Term>> = Vec::with_capacity(content.len());
        for word in &content {
            // Each word of the question by any of its forms ("wrote": written, writer, author),
            // or, when the index has none of them, by a spelling one or two edits away
            // ("austrailia"). The adequacy check applies the same tolerance.
            let mut forms: Vec<Box<dyn Query>> = Vec::new();
            let mut known = false;
            let forms_of: Vec<String> = match &self.pack {
                Some(pack) => pack.surface_forms(word),
                None => question::surface_forms(word).into_iter().map(str::to_string).collect(),
            };
            let mut paired: Vec<Term> = Vec::new();
            for form in &forms_of {
                let mut stream = analyzer.token_stream(form);
                let mut tokens: Vec<(Term, bool)> = Vec::new();
                while let Some(token) = stream.next() {
                    let term = Term::from_field_text(self.fields.body, &token.text);
                    let indexed = searcher.doc_freq(&term).unwrap_or(0) > 0;
                    known |= indexed;
                    tokens.push((term, indexed));
                }
                // A form the analyzer splits ("co-founded") is left to the bag of words.
                if let [(term, true)] = tokens.as_slice() {
                    if paired.len() < PAIR_FORMS && !paired.contains(term) {
                        paired.push(term.clone());
                    }
                }
                for (term, _) in tokens {
                    forms.push(Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)));
                }
            }
            pair_forms.push(paired);
            let typo_distance = match word.chars().count() {
                0..=4 => 0,
                5..=7 => 1,
                _ => 2,
            };
            if !known && typo_distance > 0 {
                let mut stream = analyzer.token_stream(word);
                while let Some(token) = stream.next() {
                    // The spelling most documents use ("odysey" → odyssey, "morroco" → morocco),
                    // searched as a word like any other; failing one, every near spelling, each
                    // hit then checked for a common one.
                    match self.likeliest_spelling(&searcher, &token.text, typo_distance) {
                        Some(term) => forms.push(Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))),
                        None => {
                            typos.push(word.clone());
                            let term = Term::from_field_text(self.fields.body, &token.text);
                            forms.push(Box::new(FuzzyTermQuery::new(term, typo_distance, true)));
                        }
                    }
                }
            }
            match forms.len() {
                0 => {}
                1 => per_word.extend(forms),
                _ => per_word.push(Box::new(BooleanQuery::union(forms))),
            }
        }
        if per_word.is_empty() {
            return Ok(Vec::new());
        }
        let pairs = pair_query(&pair_forms);
        let run_of_words = whole_run_query(&pair_forms);
        let run = |occur: Occur| -> Result<Vec<(f32, tantivy::DocAddress)>, SearchError> {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = per_word.iter().map(|q| (occur, q.box_clone())).collect();
            clauses.push((Occur::Should, key_query.box_clone()));
            if let Some(pairs) = &pairs {
                clauses.push((Occur::Should, pairs.box_clone()));
            }
            if let Some(run_of_words) = &run_of_words {
                clauses.push((Occur::Should, run_of_words.box_clone()));
            }
            searcher
                .search(&BooleanQuery::new(clauses), &TopDocs::with_limit(limit))
                .map_err(|e| SearchError::Backend(e.to_string()))
        };
        let mut top = run(Occur::Must)?;
        if fill && top.len() < limit && per_word.len() > 1 {
            for (score, address) in run(Occur::Should)? {
                if top.len() == limit {
                    break;
                }
                if !top.iter().any(|(_, a)| *a == address) {
                    top.push((score, address));
                }
            }
        }
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address).map_err(|e| SearchError::Backend(e.to_string()))?;
            let get = |field: Field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            // A word the index lacks may be a typo of a common word ("austrailia") or a rare word
            // of its own ("gymnophobia" is not "gynophobia"): keep a hit only if what it has in
            // place of the word is common.
            let text = get(self.fields.text);
            let title = get(self.fields.title);
            if !typos.is_empty()
                && !typos
                    .iter()
                    .all(|typo| self.has_common_spelling(&searcher, typo, &title, &text))
            {
                continue;
            }
            hits.push(Hit {
                id: get(self.fields.id),
                title,
                text,
                source: get(self.fields.source),
                url: get(self.fields.url),
                score,
            });
        }
        Ok(hits)
    }
}

/// Each two neighbouring content words of the question, by any of their forms (`forms`, one list
/// per word), as a phrase that may have up to `PAIR_SLOP` words between them; `None` for a
/// one-word question.
fn pair_query(forms: &[Vec<Term>]) -> Option<Box<dyn Query>> {
    let mut phrases: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for pair in forms.windows(2) {
        for first in &pair[0] {
            for second in &pair[1] {
                if first == second {
                    continue;
                }
                let phrase =
                    PhraseQuery::new_with_offset_and_slop(vec![(0, first.clone()), (1, second.clone())], PAIR_SLOP);
                phrases.push((Occur::Should, Box::new(phrase)));
            }
        }
    }
    (!phrases.is_empty())
        .then(|| Box::new(BoostQuery::new(Box::new(BooleanQuery::new(phrases)), PAIR_BOOST)) as Box<dyn Query>)
}

/// Every content word of a question of three or more, in its order, each up to `PAIR_SLOP` words
/// from the next: "George Washington was … the first president of the United States" says the
/// whole of "who was the first president of the United States", which leads that mention
/// "president" and "United States" more often outscore otherwise.
fn whole_run_query(forms: &[Vec<Term>]) -> Option<Box<dyn Query>> {
    if forms.len() < 3 {
        return None;
    }
    let terms: Vec<(usize, Term)> = forms
        .iter()
        .enumerate()
        .map(|(i, f)| f.first().map(|t| (i, t.clone())))
        .collect::<Option<_>>()?;
    let phrase = PhraseQuery::new_with_offset_and_slop(terms, PAIR_SLOP);
    Some(Box::new(BoostQuery::new(Box::new(phrase), RUN_BOOST)))
}

/// Documents a word must be in for a misspelling of it to be taken as meaning it.
const COMMON_WORD_DOCS: u64 = 20;

/// Documents a word must be in to be taken as the spelling meant: a name the sources use more than
/// once ("odyssey", "nutcracker"), not a stray typo of theirs.
const SPELLING_DOCS: u64 = 2;

/// A Levenshtein automaton as the term dictionary reads it (tantivy's own wrapper is private).
struct Levenshtein(levenshtein_automata::DFA);

impl tantivy_fst::Automaton for Levenshtein {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), levenshtein_automata::Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != levenshtein_automata::SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

impl EmbeddedIndex {
    /// The index word within `distance` edits of `token` (never in its first letter, as
    /// [`question::same_term`] reads a typo) that the most documents hold: the spelling meant,
    /// where a fuzzy query would score every near word alike.
    fn likeliest_spelling(&self, searcher: &tantivy::Searcher, token: &str, distance: u8) -> Option<Term> {
        static BUILDERS: LazyLock<[LevenshteinAutomatonBuilder; 2]> = LazyLock::new(|| {
            [
                LevenshteinAutomatonBuilder::new(1, true),
                LevenshteinAutomatonBuilder::new(2, true),
            ]
        });
        let first = token.chars().next()?;
        // One edit away first: "morroco" is morocco, whatever word two edits away is commoner.
        for d in 1..=distance.min(2) {
            let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
            let dfa = Levenshtein(BUILDERS[usize::from(d - 1)].build_dfa(token));
            for segment in searcher.segment_readers() {
                let Ok(inverted) = segment.inverted_index(self.fields.body) else {
                    continue;
                };
                let Ok(mut stream) = inverted.terms().search(&dfa).into_stream() else {
                    continue;
                };
                while stream.advance() {
                    let word = stream.key();
                    if std::str::from_utf8(word).is_ok_and(|w| w.starts_with(first)) {
                        *counts.entry(word.to_vec()).or_default() += u64::from(stream.value().doc_freq);
                    }
                }
            }
            let best = counts
                .into_iter()
                .filter(|(_, docs)| *docs >= SPELLING_DOCS)
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)));
            if let Some(word) = best.and_then(|(word, _)| String::from_utf8(word).ok()) {
                return Some(Term::from_field_text(self.fields.body, &word));
            }
        }
        None
    }

    /// Whether the hit spells `typo` as a word that the index has in many documents.
    /// Or whose title has the word with two neighbouring letters swapped ("frankenstien",
    /// "wimbeldon"): the commonest typo, and one that seldom makes another word.
    fn has_common_spelling(&self, searcher: &tantivy::Searcher, typo: &str, title: &str, text: &str) -> bool {
        if words(title).any(|w| question::swapped_neighbours(typo, &w)) {
            return true;
        }
        let mut analyzer = self.analyzer.clone();
        words(title).chain(words(text)).any(|w| {
            question::same_term(typo, &w) && {
                let mut stream = analyzer.token_stream(&w);
                let mut common = false;
                while let Some(token) = stream.next() {
                    let term = Term::from_field_text(self.fields.body, &token.text);
                    common |= searcher.doc_freq(&term).unwrap_or(0) >= COMMON_WORD_DOCS;
                }
                common
            }
        })
    }
}

impl SearchBackend for EmbeddedIndex {
    fn name(&self) -> &str {
        "embedded"
    }

    fn search<'a>(&'a self, query: &'a str, limit: usize) -> BoxFuture<'a, Result<Vec<Hit>, SearchError>> {
        Box::pin(std::future::ready(self.search_sync(query, limit)))
    }

    fn blocking(self: Arc<Self>) -> Option<Arc<dyn BlockingSearch>> {
        Some(self)
    }
}

impl BlockingSearch for EmbeddedIndex {
    fn search_blocking(&self, query: &str, limit: usize) -> Result<Vec<Hit>, SearchError> {
        self.search_sync(query, limit)
    }
}

/// Only with the `test-hooks` feature (the integration tests), and only once [`test_hooks::arm`]
/// was called: a query holding the word `zzslowsearch` blocks its thread for
/// [`test_hooks::SLOW_SEARCH`], like a search over a very large index, so a test can check that such
/// a search neither escapes `search.timeout_ms` nor stalls the serving thread. Cargo turns the
/// feature on in any binary built in one command with the examples or tests (it unifies the
/// dev-dependency's features), so the word alone must never slow a deployed proxy: only a test
/// arms the hook.
#[cfg(feature = "test-hooks")]
pub mod test_hooks {
    use std::sync::atomic::{AtomicBool, Ordering};

    pub const SLOW_SEARCH: std::time::Duration = std::time::Duration::from_millis(1500);

    static ARMED: AtomicBool = AtomicBool::new(false);

    /// Makes the hook live in this process.
    pub fn arm() {
        ARMED.store(true, Ordering::SeqCst);
    }

    pub(super) fn slow_search(query: &str) {
        if ARMED.load(Ordering::SeqCst) && query.to_lowercase().contains("zzslowsearch") {
            std::thread::sleep(SLOW_SEARCH);
        }
    }
}

/// Builds an index in `dir` from the documents `feed` gives, replacing what was there. Writes into
/// a sibling directory first and renames it into place, so a crash mid-build never leaves a half
/// index. Memory stays within the writer's budget whatever the number of documents. `for_pack`:
/// a language pack's corpus, whose entries get no English sentences of their life dates.
fn build_index(
    dir: &Path,
    for_pack: bool,
    feed: impl FnOnce(&mut super::ingest::Sink<'_>) -> Result<(), Error>,
) -> Result<u64, Error> {
    let building = PathBuf::from(format!("{}.building", dir.display()));
    if building.exists() {
        std::fs::remove_dir_all(&building).map_err(|e| Error::io(format!("removing {}", building.display()), e))?;
    }
    std::fs::create_dir_all(&building).map_err(|e| Error::io(format!("creating {}", building.display()), e))?;
    let (schema, fields) = schema();
    let index = Index::create_in_dir(&building, schema).map_err(index_err("creating the search index"))?;
    let mut writer = DocWriter::new(&index, fields, for_pack)?;
    let fed = feed(&mut |doc| writer.add(doc)).and_then(|()| writer.finish());
    drop(index);
    let count = match fed {
        Ok(count) => count,
        Err(e) => {
            // A failed build leaves nothing behind: the half-built folder was left to take space
            // and to puzzle whoever found it.
            let _ = std::fs::remove_dir_all(&building);
            return Err(e);
        }
    };
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(format!("removing the old index {}", dir.display()), e))?;
    }
    std::fs::rename(&building, dir)
        .map_err(|e| Error::io(format!("moving the new index into {}", dir.display()), e))?;
    Ok(count)
}

/// Adds corpus documents to an index; tantivy flushes a segment whenever its 200 MB budget fills.
struct DocWriter {
    writer: tantivy::IndexWriter,
    fields: Fields,
    count: u64,
    /// A language pack's corpus: words indexed without accents, no English life-date sentences.
    for_pack: bool,
}

impl DocWriter {
    fn new(index: &Index, fields: Fields, for_pack: bool) -> Result<DocWriter, Error> {
        let writer = index
            .writer(200_000_000)
            .map_err(index_err("opening the index writer"))?;
        Ok(DocWriter {
            writer,
            fields,
            count: 0,
            for_pack,
        })
    }

    fn add(&mut self, doc: CorpusDoc) -> Result<(), Error> {
        let fields = self.fields;
        let subject = entity(&doc.title);
        // "(1930 – 2004)" said as sentences, so "when was X born" finds "born" in the index.
        let text = match life_sentences(&doc.title, &doc.text).filter(|_| !self.for_pack) {
            Some(said) if !doc.text.contains(&said) => format!("{} {said}", doc.text),
            _ => doc.text,
        };
        // Accents off in every index: "les miserables" as typed finds "Les Misérables"; "C++" a
        // word of its own.
        let fold = |s: String| question::spell_signs(&question::fold(&s)).into_owned();
        let mut document = doc!(
            fields.id => doc.id,
            fields.title_key => fold(subject.to_lowercase()),
            fields.body => fold(if doc.by_title {
                format!("{0} {0}", doc.title)
            } else {
                format!("{0} {0} {1}", doc.title, text)
            }),
            fields.title => doc.title.clone(),
            fields.text => text,
            fields.source => doc.source,
            fields.url => doc.url,
        );
        // A person is asked about by surname ("when was Shakespeare born"): the surname is a key too.
        if looks_like_a_name(subject) {
            if let Some(surname) = subject.rsplit(' ').next() {
                document.add_text(fields.title_key, fold(surname.to_lowercase()));
            }
        }
        self.writer
            .add_document(document)
            .map_err(index_err("adding a document"))?;
        self.count += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<u64, Error> {
        self.writer.commit().map_err(index_err("committing the index"))?;
        self.writer
            .wait_merging_threads()
            .map_err(index_err("merging index segments"))?;
        Ok(self.count)
    }
}

/// Files above this size are identified by size and modification time rather than content: `serve`
/// checks the stamp at every start, and hashing a 100 GB Wikipedia archive would take minutes.
const HASHED_FILE_LIMIT: u64 = 256 << 20;

/// Identifies a corpus by content (FNV-1a over its files' names and bytes) and size, so an index is
/// rebuilt exactly when the corpus it came from changes.
fn corpus_stamp(corpus: &Path) -> Result<String, Error> {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut size = 0u64;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for file in super::ingest::input_files(corpus)? {
        let reading = |e| Error::io(format!("reading the corpus {}", file.display()), e);
        if corpus.is_dir() {
            feed(file.strip_prefix(corpus).unwrap_or(&file).to_string_lossy().as_bytes());
        }
        let metadata = std::fs::metadata(&file).map_err(reading)?;
        size += metadata.len();
        if metadata.len() > HASHED_FILE_LIMIT {
            let modified = metadata
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            feed(format!("size={} modified={modified}", metadata.len()).as_bytes());
            continue;
        }
        let mut reader = std::fs::File::open(&file).map_err(reading)?;
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            let n = std::io::Read::read(&mut reader, &mut chunk).map_err(reading)?;
            if n == 0 {
                break;
            }
            feed(&chunk[..n]);
        }
    }
    // The corpus's absolute path too, so an index built from another corpus is told apart from
    // one whose corpus changed.
    let path = std::fs::canonicalize(corpus).unwrap_or_else(|_| corpus.to_path_buf());
    Ok(format!(
        "schema={INDEX_SCHEMA_VERSION} bytes={size} fnv1a64={hash:016x}\ncorpus={}\n",
        path.display()
    ))
}

/// The corpus a stamp says its index was built from (stamps before this line had none).
fn built_from(stamp: &str) -> Option<&str> {
    stamp.lines().find_map(|line| line.strip_prefix("corpus="))
}

/// Whether a folder exists and has anything in it.
fn holds_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}

/// Two result lists taken in turn, each document once, up to `limit`.
fn alternate(first: Vec<Hit>, second: Vec<Hit>, limit: usize) -> Vec<Hit> {
    let mut merged: Vec<Hit> = Vec::with_capacity(limit);
    let mut first = first.into_iter();
    let mut second = second.into_iter();
    loop {
        let (a, b) = (first.next(), second.next());
        if a.is_none() && b.is_none() {
            break;
        }
        for hit in [a, b].into_iter().flatten() {
            if merged.len() < limit && !merged.iter().any(|m| m.id == hit.id) {
                merged.push(hit);
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_result_lists_alternate_without_repeating_a_document() {
        let hit = |id: &str| Hit {
            id: id.into(),
            title: id.into(),
            text: String::new(),
            source: String::new(),
            url: String::new(),
            score: 0.0,
        };
        let ids = |hits: Vec<Hit>| hits.into_iter().map(|h| h.id).collect::<Vec<_>>();
        let merged = alternate(
            vec![hit("a"), hit("b"), hit("c")],
            vec![hit("x"), hit("a"), hit("y")],
            4,
        );
        assert_eq!(ids(merged), ["a", "x", "b", "c"]);
        assert_eq!(ids(alternate(vec![], vec![hit("x")], 3)), ["x"]);
    }

    fn doc(id: &str, title: &str, text: &str) -> Result<CorpusDoc, Error> {
        Ok(CorpusDoc {
            id: id.into(),
            title: title.into(),
            text: text.into(),
            source: "test".into(),
            url: format!("https://example.org/{id}"),
            by_title: false,
        })
    }

    fn sample() -> Vec<Result<CorpusDoc, Error>> {
        vec![
            doc("country/PE/capital", "Peru", "The capital of Peru is Lima."),
            doc("country/CL/capital", "Chile", "The capital of Chile is Santiago."),
            doc("wn/dog", "dog", "dog (noun): a member of the genus Canis."),
        ]
    }

    #[test]
    fn index_build_refuses_to_replace_a_folder_it_did_not_build_or_that_holds_its_input() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::create_dir_all(victim.join("docs")).unwrap();
        std::fs::write(victim.join("README.md"), "a team's notes").unwrap();
        std::fs::write(victim.join("kb.jsonl"), "{}").unwrap();
        let outside = dir.path().join("kb.jsonl");
        std::fs::write(&outside, "{}").unwrap();
        let err = EmbeddedIndex::check_replaceable(&victim, &outside)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an index ecoroute built"), "{err}");
        let err = EmbeddedIndex::check_replaceable(&victim, &victim.join("kb.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds the input"), "{err}");
        // A new folder, an empty one, or an index ecoroute built may be replaced.
        assert!(EmbeddedIndex::check_replaceable(&dir.path().join("new"), &outside).is_ok());
        let built = dir.path().join("built");
        std::fs::create_dir_all(&built).unwrap();
        std::fs::write(built.join(STAMP_FILE), "corpus=x").unwrap();
        std::fs::write(built.join("meta.json"), "{}").unwrap();
        assert!(EmbeddedIndex::check_replaceable(&built, &outside).is_ok());
        assert!(victim.join("README.md").exists());
    }

    #[test]
    fn a_name_typed_without_its_accents_is_found() {
        let mut docs = sample();
        docs.push(doc(
            "wiki/Les Misérables",
            "Les Misérables",
            "Les Misérables is a French novel by Victor Hugo.",
        ));
        let index = EmbeddedIndex::in_memory(docs).unwrap();
        for typed in ["les miserables", "Les Misérables"] {
            let hits = index.search_sync(typed, 5).unwrap();
            assert_eq!(
                hits.first().map(|h| h.id.as_str()),
                Some("wiki/Les Misérables"),
                "{typed}"
            );
            // What is shown keeps the accents.
            assert_eq!(hits[0].title, "Les Misérables");
        }
    }

    #[test]
    fn finds_the_matching_fact_first() {
        let index = EmbeddedIndex::in_memory(sample()).unwrap();
        let hits = index.search_sync("What is the capital of Peru?", 5).unwrap();
        assert_eq!(hits[0].id, "country/PE/capital");
        assert_eq!(hits[0].url, "https://example.org/country/PE/capital");
        assert!(hits[0].score > hits.get(1).map_or(0.0, |h| h.score));
    }

    #[test]
    fn an_exact_headword_beats_entries_that_repeat_the_word() {
        let index = EmbeddedIndex::in_memory(vec![
            doc(
                "foldoc/cc",
                "compiler-compiler",
                "compiler-compiler: a compiler of compiler compilers.",
            ),
            doc(
                "wn/compiler",
                "compiler",
                "compiler (noun): a program that translates source code.",
            ),
        ])
        .unwrap();
        assert_eq!(
            index.search_sync("What is a compiler?", 5).unwrap()[0].id,
            "wn/compiler"
        );
    }

    #[test]
    fn words_that_stand_together_in_the_question_count_more_together_in_a_document() {
        // Both hold every word; only one says "first president" (and "highest mountain" for
        // "tallest mountain", by the word's other form).
        let index = EmbeddedIndex::in_memory(vec![
            doc(
                "wn/woodhull",
                "Woodhull",
                "Woodhull: the first woman to run for president of the United States.",
            ),
            doc(
                "wiki/washington",
                "George Washington",
                "George Washington was a Founding Father and the first president of the United States.",
            ),
            doc(
                "wn/ash",
                "mountain ash",
                "mountain ash: the tallest hardwood tree in the world, of the mountain forests.",
            ),
            doc(
                "wiki/everest",
                "Mount Everest",
                "Mount Everest is the highest mountain in the world above sea level, tall as no other.",
            ),
        ])
        .unwrap();
        let first = |q: &str| index.search_sync(q, 5).unwrap()[0].id.clone();
        assert_eq!(
            first("who was the first president of the united states"),
            "wiki/washington"
        );
        assert_eq!(first("tallest mountain in the world"), "wiki/everest");
    }

    #[test]
    fn a_document_found_by_title_is_not_found_by_the_words_of_its_text() {
        let package =
            |id: &str, title: &str, text: &str| doc(id, title, text).map(|d| CorpusDoc { by_title: true, ..d });
        let index = EmbeddedIndex::in_memory(vec![
            package(
                "deb/openconnect",
                "OpenConnect",
                "OpenConnect is an SSL VPN client for VPN servers.",
            ),
            package("deb/wireguard", "WireGuard", "WireGuard is a novel VPN."),
            doc(
                "foldoc/vpn",
                "Virtual Private Network",
                "Virtual Private Network: (VPN) The use of encryption in the lower protocol layers.",
            ),
        ])
        .unwrap();
        let ids = |q: &str| -> Vec<String> { index.search_sync(q, 5).unwrap().into_iter().map(|h| h.id).collect() };
        assert_eq!(ids("what is a vpn"), ["foldoc/vpn"]);
        assert_eq!(ids("what is wireguard")[0], "deb/wireguard");
    }

    #[test]
    fn a_misspelt_name_is_searched_as_the_spelling_the_sources_use() {
        let mut docs = sample();
        docs.push(doc(
            "wiki/Odyssey",
            "Odyssey",
            "The Odyssey is an epic poem attributed to Homer.",
        ));
        docs.push(doc(
            "wiki/Homer",
            "Homer",
            "Homer is credited as the author of the Iliad and the Odyssey.",
        ));
        docs.push(doc("wiki/Odyssea", "Odyssea", "Odyssea is a genus of moths."));
        let index = EmbeddedIndex::in_memory(docs).unwrap();
        // "odysey" is one edit from "odyssey" (two documents) and from "odyssea" (one): the
        // spelling the sources use more is searched, and ranked as an exact word would be.
        let hits = index.search_sync("who wrote the odysey", 5).unwrap();
        let titles: Vec<&str> = hits.iter().map(|h| h.title.as_str()).collect();
        assert!(
            titles.starts_with(&["Homer"]) || titles.starts_with(&["Odyssey"]),
            "{titles:?}"
        );
        assert!(!titles.contains(&"Odyssea"), "{titles:?}");
    }

    #[test]
    fn stemming_matches_plural_forms_and_stopwords_alone_find_nothing() {
        let index = EmbeddedIndex::in_memory(sample()).unwrap();
        assert_eq!(index.search_sync("dogs", 5).unwrap()[0].id, "wn/dog");
        assert!(index.search_sync("what is the", 5).unwrap().is_empty());
    }

    #[test]
    fn builds_on_disk_and_rebuilds_when_the_corpus_changes() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("corpus.jsonl");
        std::fs::write(
            &corpus,
            "{\"id\":\"a\",\"title\":\"Peru\",\"text\":\"The capital of Peru is Lima.\"}\n",
        )
        .unwrap();
        let index_dir = dir.path().join("index");
        assert_eq!(EmbeddedIndex::open_or_build(&index_dir, &corpus).unwrap().num_docs(), 1);
        std::fs::write(
            &corpus,
            "{\"id\":\"a\",\"title\":\"Peru\",\"text\":\"x\"}\n{\"id\":\"b\",\"title\":\"Chile\",\"text\":\"y\"}\n",
        )
        .unwrap();
        assert_eq!(EmbeddedIndex::open_or_build(&index_dir, &corpus).unwrap().num_docs(), 2);
    }

    #[test]
    fn an_index_built_from_another_corpus_or_by_hand_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let default = dir.path().join("default.jsonl");
        std::fs::write(&default, "{\"id\":\"a\",\"title\":\"Peru\",\"text\":\"Lima.\"}\n").unwrap();
        let own = dir.path().join("own-docs.jsonl");
        std::fs::write(
            &own,
            "{\"id\":\"x\",\"title\":\"Acme\",\"text\":\"Acme makes anvils.\"}\n{\"id\":\"y\",\"title\":\"Roadrunner\",\"text\":\"Beep.\"}\n",
        )
        .unwrap();
        // A team builds its own index, then points index_dir at it with the default corpus left.
        let team_index = dir.path().join("team-index");
        EmbeddedIndex::build(&team_index, &own).unwrap();
        let err = EmbeddedIndex::open_or_build(&team_index, &default)
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("will not overwrite") && err.contains("own-docs.jsonl"),
            "{err}"
        );
        assert_eq!(
            EmbeddedIndex::open_or_build(&team_index, &own).unwrap().num_docs(),
            2,
            "untouched, and served with its own corpus named"
        );
        // A folder with files ecoroute did not write.
        let foreign = dir.path().join("foreign");
        std::fs::create_dir_all(&foreign).unwrap();
        std::fs::write(foreign.join("meta.json"), "{}").unwrap();
        let err = EmbeddedIndex::open_or_build(&foreign, &default)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("not built by ecoroute"), "{err}");
        assert!(foreign.join("meta.json").exists());
    }

    #[test]
    fn a_bad_corpus_line_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("c.jsonl");
        std::fs::write(&corpus, "{\"id\":\"a\",\"title\":\"t\",\"text\":\"x\"}\nnot json\n").unwrap();
        let err = EmbeddedIndex::build(&dir.path().join("index"), &corpus)
            .unwrap_err()
            .to_string();
        assert!(err.contains("c.jsonl line 2"), "{err}");
    }

    #[test]
    fn a_markdown_folder_is_indexed_and_answers() {
        let dir = tempfile::tempdir().unwrap();
        let kb = dir.path().join("kb");
        std::fs::create_dir(&kb).unwrap();
        std::fs::write(
            kb.join("vpn.md"),
            "# VPN\n\nThe office VPN uses WireGuard on port 51820.\n",
        )
        .unwrap();
        let index = EmbeddedIndex::open_or_build(&dir.path().join("index"), &kb).unwrap();
        let hits = index.search_sync("which port does the VPN use", 3).unwrap();
        assert_eq!(hits[0].title, "VPN");
        assert_eq!(hits[0].url, "vpn.md#vpn");
    }
}
