package profiles

import (
	"fmt"
	"strings"
)

// maxSuggestDistance is how far a typo may be from a known word for brig
// to suggest it: two edits catch "pidz" → "pids" and "strcit" → "strict"
// without suggesting unrelated words.
const maxSuggestDistance = 2

// closest returns the candidate nearest to word (ignoring case), or "" when
// none is within maxSuggestDistance. Ties go to the earlier candidate.
func closest(word string, candidates []string) string {
	best, bestDist := "", maxSuggestDistance+1
	w := strings.ToLower(word)
	for _, c := range candidates {
		if d := editDistance(w, strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// didYouMean returns `did you mean "x"?` for the closest candidate, or "".
func didYouMean(word string, candidates []string) string {
	if c := closest(word, candidates); c != "" && c != word {
		return fmt.Sprintf("did you mean %q?", c)
	}
	return ""
}

// editDistance is the optimal-string-alignment variant of the
// Damerau-Levenshtein distance: insertions, deletions, substitutions and
// transpositions of neighbours each cost one ("pdis" is one edit from "pids").
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// rows i-2, i-1 and i of the dynamic-programming table.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
