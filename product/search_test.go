package product

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/kitshop/kitshop/internal/docstore"
	"github.com/kitshop/kitshop/internal/docstore/docstoretest"
)

func TestWords(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Coffee Mug":              "coffee mug",
		"  canned,COFFEE!! ":      "canned coffee",
		"Straße-Karte (Berlin)":   "strasse karte berlin", // full case folding: ß is ss
		"Café Crème, 250 g":       "café crème 250 g",
		"김밥 Kimbap Roll":          "김밥 kimbap roll",
		"ΣΊΣΥΦΟΣ σίσυφος":         "σίσυφοσ σίσυφοσ", // final sigma folds to sigma
		"iPhone15/USB-C":          "iphone15 usb c",
		"٣ dates":                 "٣ dates", // a digit of another script
		"---":                     "",
		"":                        "",
		"half\u00bdprice \u2167X": "half price x", // ½ and Ⅷ are numbers, not digits
	} {
		if got := strings.Join(words(in), " "); got != want {
			t.Errorf("words(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNameKeys(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"Coffee Mug":   "w:c w:co w:cof w:m w:mu w:mug",
		"Go go GOPHER": "w:g w:go w:gop",
		"김밥 김치찌개":      "w:김 w:김밥 w:김치 w:김치찌",
		"Straße":       "w:s w:st w:str",
		"!!!":          "",
	} {
		if got := strings.Join(nameKeys(words(name)), " "); got != want {
			t.Errorf("nameKeys(%q) = %q, want %q", name, got, want)
		}
	}
	lists := map[string][]string{}
	addToWordLists(lists, "p1", "Coffee Mug")
	addToWordLists(lists, "p2", "Mug")
	if got := fmt.Sprint(lists["w:mug"]); got != "[p1 coffee mug p2 mug]" {
		t.Errorf("the entries of mug's list: %s, want [p1 coffee mug p2 mug]", got)
	}
	if len(lists) != 6 || len(lists["w:cof"]) != 1 {
		t.Errorf("lists %v, want the 6 of the words' prefixes", lists)
	}
	if id, ws := parseEntry(lists["w:cof"][0]); id != "p1" || fmt.Sprint(ws) != "[coffee mug]" {
		t.Errorf("parseEntry = %q %q, want p1 [coffee mug]", id, ws)
	}
	if id, ws := parseEntry("p3"); id != "p3" || ws != nil {
		t.Errorf("parseEntry of a name without words = %q %q, want p3 and none", id, ws)
	}
	if got := searchKey("coffeemaker"); got != "w:cof" {
		t.Errorf("searchKey(coffeemaker) = %q, want w:cof", got)
	}
	if got := searchKey("김"); got != "w:김" {
		t.Errorf("searchKey(김) = %q, want w:김", got)
	}
}

func TestParseQuery(t *testing.T) {
	t.Parallel()
	for q, want := range map[string]string{
		"mug coffee":             "coffee mug",
		"Mug, MUG; coffee mug":   "coffee mug",
		"   ":                    "",
		"?!":                     "",
		strings.Repeat("a", 200): strings.Repeat("a", 200),
		"a b c d e f g h":        "a b c d e f g h",
		"a a a a a a a a":        "a",
	} {
		got, err := parseQuery(q)
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("parseQuery(%.20q) = %q (%v), want %q", q, got, err, want)
		}
	}
	for name, q := range map[string]string{
		"201 bytes":          strings.Repeat("a", 201),
		"201 bytes of runes": strings.Repeat("가", 67),
		"9 words":            "a b c d e f g h i",
		"9 words, repeated":  "a a a a a a a a a",
		"not UTF-8":          "caf\xe9",
	} {
		_, err := parseQuery(q)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
}

func TestSearchTokens(t *testing.T) {
	t.Parallel()
	query := []string{"coffee", "mug"}
	at := SearchAt{Word: 1, From: 40}
	if got, err := decodeSearchToken(encodeSearchToken(query, at), query); err != nil || got != at {
		t.Errorf("round trip = %+v (%v), want %+v", got, err, at)
	}
	if got, err := decodeSearchToken("", query); err != nil || got != searchFirst {
		t.Errorf("empty token = %+v (%v), want the first page", got, err)
	}
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	hash := queryHash(query)
	for name, c := range map[string]struct{ tok, msg string }{
		"another q":           {encodeSearchToken([]string{"coffee"}, SearchAt{Word: 0, From: 20}), "another q"},
		"the catalogue's":     {encodePageToken(20), "of the catalogue"},
		"not base64":          {"***", "not a token"},
		"word out of range":   {raw("s1:" + hash + ":2:0"), "another q"},
		"negative word":       {raw("s1:" + hash + ":-1:0"), "not a token"},
		"negative position":   {raw("s1:" + hash + ":0:-5"), "not a token"},
		"leading zero":        {raw("s1:" + hash + ":0:05"), "not a token"},
		"missing part":        {raw("s1:" + hash + ":0"), "not a token"},
		"another version":     {raw("s2:" + hash + ":0:0"), "not a token"},
		"extra part":          {raw("s1:" + hash + ":0:0:0"), "not a token"},
		"not a number at all": {raw("s1:" + hash + ":x:0"), "not a token"},
	} {
		_, err := decodeSearchToken(c.tok, query)
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument saying %q", name, err, c.msg)
		}
	}
	if _, err := decodePageToken(encodeSearchToken(query, at)); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "of a search") {
		t.Errorf("a search's token for the catalogue: err = %v, want ErrInvalidArgument saying it is a search's", err)
	}
}

// insertNamed inserts products with the given names, ids n01, n02, ... in their order.
func insertNamed(t *testing.T, s Store, names ...string) []string {
	t.Helper()
	ps := make([]Product, len(names))
	ids := make([]string, len(names))
	for i, name := range names {
		ids[i] = fmt.Sprintf("n%02d", i+1)
		ps[i] = Product{ID: ids[i], Name: name, Price: 1000, Stock: 1}
	}
	if _, err := s.InsertProducts(t.Context(), ps); err != nil {
		t.Fatal(err)
	}
	return ids
}

// searchAll pages through the search of q, pageSize a page, and returns the ids found in their order and
// the number of pages.
func searchAll(t *testing.T, svc Service, q string, pageSize int) (ids []string, pages int) {
	t.Helper()
	tok := ""
	for {
		page, err := svc.ListProducts(t.Context(), q, pageSize, tok)
		if err != nil {
			t.Fatalf("q %q, token %q: %v", q, tok, err)
		}
		if len(page.Products) > pageSize {
			t.Fatalf("q %q: a page of %d products, asked for %d", q, len(page.Products), pageSize)
		}
		pages++
		ids = append(ids, productIDsOf(page.Products)...)
		if tok = page.NextPageToken; tok == "" {
			return ids, pages
		}
		if pages > 1000 {
			t.Fatalf("q %q: the pages do not end", q)
		}
	}
}

// TestSearchProducts: a search finds the products whose name has, for each query word, a word equal to it
// or beginning with it, compared case-folded, in the order they were added; on both stores.
func TestSearchProducts(t *testing.T) {
	forEachStore(t, func(t *testing.T, h harness) {
		insertNamed(t, h.store,
			"Coffee Mug",            // n01
			"Canned Coffee",         // n02
			"Green Tea Mug",         // n03
			"Straße-Karte (Berlin)", // n04
			"Café Crème, 250 g",     // n05
			"김밥 Kimbap Roll",        // n06
			"Coffeemaker 3000",      // n07
			"Teapot",                // n08
		)
		svc := newTestService(t, h.store, newClock())
		for q, want := range map[string]string{
			"mug":                  "n01 n03",
			"MUG":                  "n01 n03",
			"Coffee":               "n01 n02 n07", // coffeemaker begins with coffee
			"coffee mug":           "n01",
			"mug coffee":           "n01",
			"  coffee,,, MUG!! ":   "n01",
			"tea":                  "n03 n08",
			"te":                   "n03 n08",
			"ea":                   "", // inside a word, not at its start
			"strasse":              "n04",
			"STRASSE karte berlin": "n04",
			"straß":                "n04",
			"CAFÉ crè":             "n05",
			"cafe":                 "", // é is not e
			"250":                  "n05",
			"250g":                 "", // 250 and g are two words of the name
			"김":                    "n06",
			"김밥 roll":              "n06",
			"3000":                 "n07",
			"coffeemakers":         "", // longer than the name's word
			"xyz":                  "",
			"coffee tea":           "",
			"c":                    "n01 n02 n05 n07",
			"c m":                  "n01",
		} {
			ids, pages := searchAll(t, svc, q, 20)
			if got := strings.Join(ids, " "); got != want || pages != 1 {
				t.Errorf("q %q: %q in %d pages, want %q in 1", q, got, pages, want)
			}
		}
		// A q without words is the catalogue.
		for _, q := range []string{"", "   ", "-!?"} {
			ids, _ := searchAll(t, svc, q, 20)
			if len(ids) != 8 {
				t.Errorf("q %q: %d products, want the catalogue's 8", q, len(ids))
			}
		}
	})
}

// TestSearchPaging: 45 matches read 20 a page come once each, in the order they were added, also when a
// product is added between two pages (it comes last); a page token is refused with another q, without q,
// and a catalogue token with q; on both stores.
func TestSearchPaging(t *testing.T) {
	forEachStore(t, func(t *testing.T, h harness) {
		ctx := t.Context()
		var names []string
		var want []string
		for i := range 90 {
			kind := "Cup"
			if i%2 == 0 {
				kind = "Mug"
				want = append(want, fmt.Sprintf("n%02d", i+1))
			}
			names = append(names, fmt.Sprintf("Blue %s %d", kind, i))
		}
		insertNamed(t, h.store, names...)
		svc := newTestService(t, h.store, newClock())

		first, err := svc.ListProducts(ctx, "blue mug", 20, "")
		if err != nil || len(first.Products) != 20 || first.NextPageToken == "" {
			t.Fatalf("first page: %d products, token %q (%v)", len(first.Products), first.NextPageToken, err)
		}
		// Added between the pages: listed after the others, shifting nothing.
		if _, err := h.store.InsertProducts(ctx, []Product{{ID: "late", Name: "Mug, blue", Price: 1}}); err != nil {
			t.Fatal(err)
		}
		got := productIDsOf(first.Products)
		tok := first.NextPageToken
		var sizes []int
		for tok != "" {
			page, err := svc.ListProducts(ctx, "MUG Blue", 20, tok) // the same words: the same search
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(page.Products))
			got = append(got, productIDsOf(page.Products)...)
			tok = page.NextPageToken
		}
		if want := append(slices.Clone(want), "late"); !slices.Equal(got, want) {
			t.Errorf("paged %d products %v, want %d in the order added", len(got), got, len(want))
		}
		if fmt.Sprint(sizes) != "[20 6]" {
			t.Errorf("pages after the first of %v products, want [20 6]", sizes)
		}

		for name, c := range map[string]struct{ q, tok string }{
			"another q":                   {"blue cup", first.NextPageToken},
			"no q":                        {"", first.NextPageToken},
			"the catalogue's token":       {"mug", encodePageToken(20)},
			"a token of a subset of q":    {"blue mug cup", first.NextPageToken},
			"a token that is not a token": {"mug", "garbage"},
		} {
			if _, err := svc.ListProducts(ctx, c.q, 20, c.tok); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
			}
		}
	})
}

// TestSearchScanIsBounded: a page reads at most searchScan entries of its list, so a search whose list holds
// many products that do not match returns short pages, some empty, with a token, until every match is
// found, once; on the fake store (the same search as the embedded one's).
func TestSearchScanIsBounded(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	var names, want []string
	onFirstPage := 0
	for i := range 2*searchScan + 500 {
		name := fmt.Sprintf("Product %d", i)
		if i%300 == 7 {
			name = fmt.Sprintf("Protein Bar %d", i)
			want = append(want, fmt.Sprintf("n%02d", i+1))
			if i < searchScan {
				onFirstPage++
			}
		}
		names = append(names, name)
	}
	insertNamed(t, store, names...)
	svc := newTestService(t, store, newClock())
	got, pages := searchAll(t, svc, "prot", 20) // the list of "pro" holds them all
	if !slices.Equal(got, want) || pages != 3 {
		t.Errorf("%d products in %d pages, want %d in 3", len(got), pages, len(want))
	}
	page, err := svc.ListProducts(t.Context(), "prot", 20, "")
	if err != nil || len(page.Products) != onFirstPage || page.NextPageToken == "" {
		t.Errorf("first page: %d products, token %q (%v), want %d and a token", len(page.Products), page.NextPageToken, err, onFirstPage)
	}
}

// TestSearchReadsByID: on the embedded store a search's reads, of the lists and of the products, filter
// on _id alone.
func TestSearchReadsByID(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	s := newMongoStoreOn(t, db)
	var names []string
	for i := range 150 {
		names = append(names, fmt.Sprintf("Red Mug %d", i))
	}
	insertNamed(t, s, names...)
	cold := newMongoStoreOn(t, db) // remembering nothing
	svc := newTestService(t, cold, newClock())
	before := map[string]int{}
	for _, coll := range []string{catalogueCollection, productsCollection} {
		before[coll] = len(testRecorder.Commands(db.Name(), coll))
	}
	if ids, _ := searchAll(t, svc, "mug red", 40); len(ids) != 150 {
		t.Errorf("%d products found, want 150", len(ids))
	}
	for _, coll := range []string{catalogueCollection, productsCollection} {
		cmds := testRecorder.Commands(db.Name(), coll)[before[coll]:]
		if len(cmds) == 0 {
			t.Errorf("no command on %s recorded", coll)
		}
		for _, c := range cmds {
			if !c.IDOnly() {
				t.Errorf("%s does not filter on _id alone", c)
			}
		}
	}
}

// TestSearchOfAnEarlierStore: the products of a database from before the word lists are found once the
// store opens it, in the catalogue's order, whether the database had the catalogue's list or not; once
// only: the products of a database opened again, or added since, are listed once.
func TestSearchOfAnEarlierStore(t *testing.T) {
	t.Parallel()
	docstoretest.EachMode(t, func(t *testing.T, m docstoretest.Mode) {
		ctx := t.Context()
		stored := func(t *testing.T, db *mongo.Database, names map[string]string) {
			t.Helper()
			var docs []any
			for id, name := range names {
				docs = append(docs, productDoc{ID: id, Name: name, Price: 1, Inflight: []string{}, Returning: []string{}})
			}
			if _, err := db.Collection(productsCollection).InsertMany(ctx, docs); err != nil {
				t.Fatal(err)
			}
		}
		found := func(t *testing.T, s Store, q string) string {
			t.Helper()
			ids, _ := searchAll(t, newTestService(t, s, newClock()), q, 2)
			return strings.Join(ids, " ")
		}
		products := map[string]string{"c": "Coffee Mug", "a": "Tea Mug", "b": "Coffee Beans"}

		t.Run("before the catalogue's list", func(t *testing.T) {
			db := newTestDB(t)
			stored(t, db, products)
			s := newMongoStoreOn(t, db, m.Options()...)
			if got := found(t, s, "mug"); got != "a c" { // the catalogue's order: the ids'
				t.Errorf("mug: %q, want \"a c\"", got)
			}
		})
		t.Run("with the catalogue's list", func(t *testing.T) {
			db := newTestDB(t)
			stored(t, db, products)
			u, err := docstore.NewUpdater(ctx, db, m.Options()...)
			if err != nil {
				t.Fatal(err)
			}
			// The previous version's catalogue: "ghost" listed, never stored.
			if err := docstore.NewIDList(u, db.Collection(catalogueCollection)).Append(ctx, catalogueList, "c", "ghost", "b", "a"); err != nil {
				t.Fatal(err)
			}
			s := newMongoStoreOn(t, db, m.Options()...)
			if got := found(t, s, "coffee"); got != "c b" {
				t.Errorf("coffee: %q, want \"c b\"", got)
			}
			if got := found(t, s, "mug"); got != "c a" {
				t.Errorf("mug: %q, want \"c a\"", got)
			}
			insertNamed(t, s, "Mug Tree")
			s = newMongoStoreOn(t, db, m.Options()...)
			if got := found(t, s, "mug"); got != "c a n01" {
				t.Errorf("mug, opened again: %q, want \"c a n01\"", got)
			}
		})
		t.Run("made by this version", func(t *testing.T) {
			db := newTestDB(t)
			s := newMongoStoreOn(t, db, m.Options()...)
			// More than a list's head holds, so that listing them again would show.
			var names []string
			for i := range docstore.ListBucketSize + 6 {
				names = append(names, fmt.Sprintf("Mug %d", i))
			}
			want := strings.Join(insertNamed(t, s, names...), " ")
			s = newMongoStoreOn(t, db, m.Options()...)
			if got := found(t, s, "mug"); got != want {
				t.Errorf("mug, opened again: %q, want %q", got, want)
			}
		})
	})
}

// TestSearchOfADanglingID: an id listed whose product never came (a crash between the lists' appends and
// the insert) is left out of a search, and found once the product is made.
func TestSearchOfADanglingID(t *testing.T) {
	t.Parallel()
	s := newMongoStore(t)
	ctx := t.Context()
	insertNamed(t, s, "Mug")
	lists := map[string][]string{}
	addToWordLists(lists, "ghost", "Mug")
	if err := s.catalogue.AppendEach(ctx, lists); err != nil {
		t.Fatal(err)
	}
	svc := newTestService(t, s, newClock())
	if ids, _ := searchAll(t, svc, "mug", 20); fmt.Sprint(ids) != "[n01]" {
		t.Errorf("mug: %v, want [n01]", ids)
	}
	if _, err := s.InsertProducts(ctx, []Product{{ID: "ghost", Name: "Mug", Price: 1}}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := searchAll(t, svc, "mug", 20); fmt.Sprint(ids) != "[n01 ghost]" {
		t.Errorf("mug: %v, want [n01 ghost]", ids)
	}
}
