"""Article extraction for news pages: what the news spider runs on every page it fetches.

Flow position: parse workers (spider callback) -> **extract** -> item -> item queue ->
``near_duplicates.NearDuplicatePipeline`` (main process) -> exporter.

Everything heavy (parsing, main-content extraction, text statistics, the simhash) runs in the
parse workers; the main process only keeps a small index of simhashes. Modules, in the order a
page meets them:

- ``jsonld``: the page's JSON-LD nodes and the article node that describes this page.
- ``metadata``: title, authors, dates, section, language and canonical URL, strongest evidence
  first (JSON-LD that agrees with the page, then OpenGraph and meta tags, then the page itself).
- ``body``: the main text (trafilatura, cleaned of repeated headlines and link-only blocks)
  and the prose-shape tests for pages without metadata (a run of sibling paragraphs; the
  extracted text as one block of prose, not a list of teasers).
- ``text``: tokens, lead-sentence summary, ranked keywords.
- ``simhash``: 64-bit simhash of the body and Hamming distance.
- ``article``: decides whether a page is an article and assembles the item.
- ``near_duplicates``: the pipeline marking syndicated and republished copies.

Submodules are imported directly (``from scraper.extract.article import extract_article``) so the
main process, which only needs the pipeline, never loads the extractors.
"""

from ..extras import require

require("news", "the news extraction (scraper.extract)")
