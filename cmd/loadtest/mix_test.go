package main

import (
	"math"
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	m, err := parseMix("browse=50, product=20,orders=15,login=5,order=10")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.String(), "browse=50,product=20,orders=15,login=5,order=10"; got != want {
		t.Errorf("parsed %q, want %q", got, want)
	}
	if m, err := parseMix("order=0,browse=1"); err != nil || m.String() != "order=0,browse=1" {
		t.Errorf("a zero share among others: %v, %v", m, err)
	}
	for _, tt := range []struct{ mix, says string }{
		{"search=10", "no journey"},
		{"browse", "not journey=share"},
		{"browse=-1", "whole number"},
		{"browse=1.5", "whole number"},
		{"browse=ten", "whole number"},
		{"browse=2000000", "whole number"},
		{"browse=0,order=0", "every share"},
		{"browse=1,order=2,browse=3", "twice"},
		{"browse=1,", "not journey=share"},
	} {
		_, err := parseMix(tt.mix)
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("parseMix(%q) = %v, want an error saying %q", tt.mix, err, tt.says)
		}
	}
}

func TestDrawFollowsTheShares(t *testing.T) {
	m, err := parseMix("browse=50,product=20,orders=15,login=5,order=10")
	if err != nil {
		t.Fatal(err)
	}
	const n = 10_000
	got := map[string]int{}
	for i := range int64(n) {
		j, _ := m.draw(1, i)
		got[j]++
	}
	for _, sh := range m {
		want := float64(sh.weight) / 100 * n
		// Three standard deviations of a binomial count: about 1.5 percentage points at 50 %.
		if dev := 3 * math.Sqrt(want*(1-float64(sh.weight)/100)); math.Abs(float64(got[sh.journey])-want) > dev {
			t.Errorf("%s drawn %d times in %d, want %.0f ± %.0f", sh.journey, got[sh.journey], n, want, dev)
		}
	}
}

func TestDrawIsTheSameForASeed(t *testing.T) {
	m, err := parseMix("browse=1,order=1")
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	for i := range int64(200) {
		a, ra := m.draw(7, i)
		b, rb := m.draw(7, i)
		if a != b || ra.Uint64() != rb.Uint64() {
			t.Fatalf("step %d: %s then %s with the same seed", i, a, b)
		}
		if c, _ := m.draw(8, i); c == a {
			same++
		}
	}
	if same > 140 { // half the steps agree by chance
		t.Errorf("%d of 200 steps draw the same journey with another seed", same)
	}
	for i := range int64(1000) {
		if j, _ := (mix{{journeyLogin, 0}, {journeyOrder, 3}, {journeyBrowse, 0}}).draw(1, i); j != journeyOrder {
			t.Fatalf("step %d drew %s, whose share is 0", i, j)
		}
	}
}
