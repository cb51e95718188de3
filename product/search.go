package product

import (
	"context"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"

	"github.com/kitshop/kitshop/internal/docstore"
)

// The search of the catalogue (ListProducts's q).
//
// A word is a run of letters and digits (unicode.IsLetter, unicode.IsDigit), case-folded (Unicode full case
// folding, golang.org/x/text/cases.Fold): names and queries are split on every other character. A product
// matches a query when each query word begins one of its name's words (equal to it, or a prefix of it).
//
// Every product is listed, in the order products are added, in one list per prefix of 1 to
// searchPrefixLen letters of each of its name's words (key "w:<prefix>", a docstore.IDList in the
// catalogue's collection): "Coffee Mug" in the lists of c, co, cof, m, mu and mug. Its entry there is its
// id and its name's words, separated by spaces ("<id> coffee mug"; a product id holds no space, checkID).
// A query word's list is that of its first searchPrefixLen letters (all of them when it has fewer): it
// holds every product that matches the word, and, for a word longer than that, others too. A search reads
// the list of one of its words, the shortest of them, keeps the entries that match every word, and reads
// the products of those alone.

// Limits of a search query.
const (
	MaxQueryLen   = 200 // bytes
	MaxQueryWords = 8
)

// searchPrefixLen is the most letters of a word that a list is kept for.
const searchPrefixLen = 3

// searchScan bounds the entries of a list that one page of a search examines: a page may end before it
// holds pageSize products, even with none, while more follow.
const searchScan = 2048

// wordListPrefix begins the key of every word list.
const wordListPrefix = "w:"

// isWordRune reports whether r belongs to a word.
func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// words returns the words of s, in their order, case-folded.
func words(s string) []string {
	fold := cases.Fold()
	var out []string
	for w := range strings.FieldsFuncSeq(s, func(r rune) bool { return !isWordRune(r) }) {
		out = append(out, fold.String(w))
	}
	return out
}

// prefix returns the first n runes of w, all of w when it has fewer.
func prefix(w string, n int) string {
	end := 0
	for range n {
		if end == len(w) {
			break
		}
		_, size := utf8.DecodeRuneInString(w[end:])
		end += size
	}
	return w[:end]
}

// nameKeys returns the keys of the word lists that list a product whose name has the words nameWords,
// each once.
func nameKeys(nameWords []string) []string {
	var keys []string
	for _, w := range nameWords {
		for n := 1; n <= searchPrefixLen; n++ {
			key := wordListPrefix + prefix(w, n)
			if !slices.Contains(keys, key) {
				keys = append(keys, key)
			}
		}
	}
	return keys
}

// addToWordLists appends the entry of product id, named name, to the lists of lists (entries by key)
// that list it.
func addToWordLists(lists map[string][]string, id, name string) {
	ws := words(name)
	entry := strings.Join(append([]string{id}, ws...), " ")
	for _, key := range nameKeys(ws) {
		lists[key] = append(lists[key], entry)
	}
}

// parseEntry returns the product id and the name's words of an entry of a word list.
func parseEntry(entry string) (id string, nameWords []string) {
	id, rest, _ := strings.Cut(entry, " ")
	if rest == "" {
		return id, nil
	}
	return id, strings.Split(rest, " ")
}

// searchKey returns the key of the word list that holds every product matching query word w.
func searchKey(w string) string { return wordListPrefix + prefix(w, searchPrefixLen) }

// wordsMatch reports whether each word of query begins one of nameWords.
func wordsMatch(nameWords, query []string) bool {
	for _, q := range query {
		if !slices.ContainsFunc(nameWords, func(w string) bool { return strings.HasPrefix(w, q) }) {
			return false
		}
	}
	return true
}

// parseQuery returns the words of q, distinct and sorted (the query's canonical form: two q that give the
// same words are the same search), none for a q without words; it refuses a q longer than MaxQueryLen
// bytes, not valid UTF-8, or of more than MaxQueryWords words.
func parseQuery(q string) ([]string, error) {
	if len(q) > MaxQueryLen {
		return nil, invalid("q must be at most %d bytes, got %d", MaxQueryLen, len(q))
	}
	if !utf8.ValidString(q) {
		return nil, invalid("q must be valid UTF-8")
	}
	ws := words(q)
	if len(ws) > MaxQueryWords {
		return nil, invalid("q must have at most %d words (runs of letters and digits), got %d", MaxQueryWords, len(ws))
	}
	slices.Sort(ws)
	return slices.Compact(ws), nil
}

// SearchAt is where a page of a search starts: at position From of the list of the query's word number
// Word. The first page is Word -1: the store chooses the list.
type SearchAt struct {
	Word int
	From int64
}

// searchFirst is the SearchAt of a search's first page.
var searchFirst = SearchAt{Word: -1}

// searchSource is what a search reads: the word lists and the products. Both stores are one.
type searchSource interface {
	// wordListLen returns the number of entries of key's list.
	wordListLen(ctx context.Context, key string) (int64, error)
	// readWordList returns up to n entries of key's list from position from on, oldest first, and the
	// position of the next, -1 when the list ends with them.
	readWordList(ctx context.Context, key string, from int64, n int) (entries []string, next int64, err error)
	// listedProducts returns the products among ids that exist, in any order.
	listedProducts(ctx context.Context, ids []string) ([]Product, error)
}

// search is Store.SearchProducts on src.
func search(ctx context.Context, src searchSource, query []string, at SearchAt, limit int) ([]Product, SearchAt, error) {
	end := SearchAt{Word: at.Word, From: -1}
	if len(query) == 0 || limit <= 0 {
		return nil, end, nil
	}
	if at.Word < 0 {
		// The shortest list, which is none when a word's list is empty.
		at = SearchAt{Word: 0}
		shortest := int64(-1)
		for i, w := range query {
			n, err := src.wordListLen(ctx, searchKey(w))
			if err != nil {
				return nil, end, err
			}
			if n == 0 {
				return nil, end, nil
			}
			if shortest < 0 || n < shortest {
				at.Word, shortest = i, n
			}
		}
		end.Word = at.Word
	}
	if at.Word >= len(query) || at.From < 0 {
		return nil, end, fmt.Errorf("product: search from %+v of a query of %d words", at, len(query))
	}
	key := searchKey(query[at.Word])
	var ps []Product
	for scanned, n := 0, max(limit, searchChunk); scanned < searchScan; n *= 2 {
		entries, next, err := src.readWordList(ctx, key, at.From, min(n, searchScan-scanned))
		if err != nil {
			return nil, end, err
		}
		// The matching entries' ids, and the position after each.
		var ids []string
		var after []int64
		for i, e := range entries {
			if id, ws := parseEntry(e); wordsMatch(ws, query) {
				ids = append(ids, id)
				after = append(after, at.From+int64(i)+1)
			}
		}
		// Their products, as many at a time as the page lacks: an id may have none (listed, never stored).
		for len(ids) > 0 {
			k := min(len(ids), limit-len(ps))
			found, err := src.listedProducts(ctx, ids[:k])
			if err != nil {
				return nil, end, err
			}
			ps = append(ps, inOrder(ids[:k], found)...)
			if len(ps) == limit {
				if from := after[k-1]; from < at.From+int64(len(entries)) {
					return ps, SearchAt{Word: at.Word, From: from}, nil
				}
				break // the page ends with the entries read
			}
			ids, after = ids[k:], after[k:]
		}
		if next < 0 || len(entries) == 0 {
			return ps, end, nil
		}
		at.From = next
		scanned += len(entries)
		if len(ps) == limit {
			break
		}
	}
	return ps, at, nil
}

// searchChunk is the fewest entries of a list a search reads at once: a bucket's.
const searchChunk = docstore.ListBucketSize

// searchTokenPrefix versions the page token of a search.
const searchTokenPrefix = "s1:"

// queryHash returns the hash of a query that its page tokens carry.
func queryHash(query []string) string {
	h := fnv.New64a()
	for _, w := range query {
		h.Write([]byte(w))
		h.Write([]byte{' '})
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// encodeSearchToken returns the opaque token of the page of query that starts at at.
func encodeSearchToken(query []string, at SearchAt) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s%s:%d:%d", searchTokenPrefix, queryHash(query), at.Word, at.From))
}

// decodeSearchToken returns where the page of query that tok names starts (searchFirst for the empty
// token). It refuses a token of the catalogue, of another query, or not issued by the service.
func decodeSearchToken(tok string, query []string) (SearchAt, error) {
	if tok == "" {
		return searchFirst, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return SearchAt{}, errForeignToken
	}
	if strings.HasPrefix(string(raw), pageTokenPrefix) {
		return SearchAt{}, invalid("pageToken is a token of the catalogue (no q), not of a search")
	}
	rest, ok := strings.CutPrefix(string(raw), searchTokenPrefix)
	parts := strings.Split(rest, ":")
	if !ok || len(parts) != 3 {
		return SearchAt{}, errForeignToken
	}
	word, err := strconv.Atoi(parts[1])
	from, ferr := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || ferr != nil || word < 0 || from < 0 ||
		parts[1] != strconv.Itoa(word) || parts[2] != strconv.FormatInt(from, 10) {
		return SearchAt{}, errForeignToken
	}
	if parts[0] != queryHash(query) || word >= len(query) {
		return SearchAt{}, invalid("pageToken is a token of another q")
	}
	return SearchAt{Word: word, From: from}, nil
}
