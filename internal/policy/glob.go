package policy

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// atomKind is one piece of a compiled pattern.
type atomKind uint8

const (
	atomLit  atomKind = iota // literal text
	atomStar                 // '*': any run of characters
	atomOne                  // '?': exactly one character
	atomVar                  // ${key} or ${key, 'default'}: resolved at evaluation time
)

type atom struct {
	kind   atomKind
	text   string // literal text, or the lower-cased key of a variable
	def    string // default value of a variable
	hasDef bool
	v      int // index of a variable among the pattern's variables
}

// pattern is a compiled string value: literal text, optional wildcards and optional
// policy variables. It is immutable after compilation.
type pattern struct {
	raw   string
	atoms []atom
	nvars int
	wild  bool // contains '*' or '?' atoms
	all   bool // the pattern is exactly "*" (matches everything)
}

// errVariable reports a malformed ${...} reference.
var errVariable = errors.New("malformed policy variable")

// compilePattern turns s into a pattern. wild makes '*' and '?' wildcards; vars makes
// ${...} a policy variable (only under Version 2012-10-17).
func compilePattern(s string, wild, vars bool) (pattern, error) {
	p := pattern{raw: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.atoms = append(p.atoms, atom{kind: atomLit, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case wild && c == '*':
			flush()
			p.atoms = append(p.atoms, atom{kind: atomStar})
			p.wild = true
			i++
		case wild && c == '?':
			flush()
			p.atoms = append(p.atoms, atom{kind: atomOne})
			p.wild = true
			i++
		case vars && c == '$' && i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return pattern{}, errVariable
			}
			body := s[i+2 : i+end]
			i += end + 1
			switch body {
			case "*", "?", "$":
				lit.WriteString(body)
				continue
			}
			a, err := parseVariable(body)
			if err != nil {
				return pattern{}, err
			}
			flush()
			a.v = p.nvars
			p.nvars++
			p.atoms = append(p.atoms, a)
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	p.all = len(p.atoms) == 1 && p.atoms[0].kind == atomStar
	return p, nil
}

// parseVariable parses the inside of ${...}: a key and an optional ", 'default'".
func parseVariable(body string) (atom, error) {
	key, def, hasDef := strings.Cut(body, ",")
	key = strings.TrimSpace(key)
	if key == "" || strings.ContainsAny(key, " \t'${") {
		return atom{}, errVariable
	}
	a := atom{kind: atomVar, text: strings.ToLower(key)}
	if hasDef {
		def = strings.TrimSpace(def)
		if len(def) < 2 || def[0] != '\'' || def[len(def)-1] != '\'' || strings.Contains(def[1:len(def)-1], "'") {
			return atom{}, errVariable
		}
		a.def, a.hasDef = def[1:len(def)-1], true
	}
	return a, nil
}

// hasVariable reports whether s contains something that looks like a policy variable.
func hasVariable(s string) bool { return strings.Contains(s, "${") }

// maxStackVars is how many variables a pattern may hold before resolution allocates.
const maxStackVars = 8

// match reports whether s matches p. fold compares case-insensitively. Variables are
// resolved from c; a variable that cannot be resolved makes the pattern match nothing.
func (p *pattern) match(s string, c Context, fold bool) bool {
	if p.all {
		return true
	}
	if p.nvars == 0 {
		if !p.wild {
			if len(p.atoms) == 0 {
				return s == ""
			}
			if fold {
				return strings.EqualFold(s, p.atoms[0].text)
			}
			return s == p.atoms[0].text
		}
		return globAtoms(p.atoms, nil, s, fold)
	}
	var buf [maxStackVars]string
	vals := buf[:0]
	if p.nvars > maxStackVars {
		vals = make([]string, 0, p.nvars)
	}
	for i := range p.atoms {
		a := &p.atoms[i]
		if a.kind != atomVar {
			continue
		}
		v, ok := resolve(c, a)
		if !ok {
			return false
		}
		vals = append(vals, v)
	}
	return globAtoms(p.atoms, vals, s, fold)
}

// resolve returns the value of a variable atom: the single value of its key, else the
// default, else not ok. Multi-valued keys cannot be variables.
func resolve(c Context, a *atom) (string, bool) {
	if c != nil {
		if vs, ok := c.Lookup(a.text); ok && len(vs) == 1 {
			return vs[0], true
		}
	}
	if a.hasDef {
		return a.def, true
	}
	return "", false
}

// globAtoms matches s against atoms with the classic single-backtrack glob algorithm:
// on a mismatch, the last '*' absorbs one more character and matching resumes after it.
// When a case-sensitive literal follows the '*', the retry jumps straight to the next
// occurrence of that literal.
func globAtoms(atoms []atom, vals []string, s string, fold bool) bool {
	ai, si := 0, 0
	starA, starS := -1, 0
	for {
		if ai < len(atoms) {
			a := &atoms[ai]
			switch a.kind {
			case atomStar:
				if ai == len(atoms)-1 {
					return true
				}
				starA, starS = ai, si
				ai++
				if !skipTo(atoms, vals, starA, s, &starS, fold) {
					return false
				}
				si = starS
				continue
			case atomOne:
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					ai++
					continue
				}
			default:
				if n, ok := prefix(s[si:], atomText(a, vals), fold); ok {
					si += n
					ai++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starA < 0 || starS >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		if !skipTo(atoms, vals, starA, s, &starS, fold) {
			return false
		}
		si, ai = starS, starA+1
	}
}

func atomText(a *atom, vals []string) string {
	if a.kind == atomVar {
		return vals[a.v]
	}
	return a.text
}

// skipTo moves *pos to the next place where the literal after the '*' at atoms[star] can
// match; it reports false when there is none. Other cases leave *pos alone.
func skipTo(atoms []atom, vals []string, star int, s string, pos *int, fold bool) bool {
	if fold || star+1 >= len(atoms) {
		return true
	}
	next := &atoms[star+1]
	if next.kind != atomLit && next.kind != atomVar {
		return true
	}
	i := strings.Index(s[*pos:], atomText(next, vals))
	if i < 0 {
		return false
	}
	*pos += i
	return true
}

// prefix reports whether s starts with lit (case-insensitively when fold) and how many
// bytes of s the match consumed.
func prefix(s, lit string, fold bool) (int, bool) {
	if !fold {
		if strings.HasPrefix(s, lit) {
			return len(lit), true
		}
		return 0, false
	}
	i, j := 0, 0
	for j < len(lit) {
		if i >= len(s) {
			return 0, false
		}
		a, b := s[i], lit[j]
		if a < utf8.RuneSelf && b < utf8.RuneSelf {
			if a != b && lowerASCII(a) != lowerASCII(b) {
				return 0, false
			}
			i++
			j++
			continue
		}
		ra, na := utf8.DecodeRuneInString(s[i:])
		rb, nb := utf8.DecodeRuneInString(lit[j:])
		if !equalFoldRune(ra, rb) {
			return 0, false
		}
		i += na
		j += nb
	}
	return i, true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// splitARN splits s into at most six colon-separated parts (the sixth keeps any further
// colons). With vars, colons inside ${...} do not split. It returns the number of parts.
func splitARN(s string, vars bool, parts *[6]string) int {
	n, start, depth := 0, 0, false
	for i := 0; i < len(s) && n < 5; i++ {
		switch {
		case vars && s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth = true
		case depth && s[i] == '}':
			depth = false
		case !depth && s[i] == ':':
			parts[n] = s[start:i]
			n++
			start = i + 1
		}
	}
	parts[n] = s[start:]
	return n + 1
}

// arnPattern is a compiled ARN (Resource element or ArnLike value): per-segment globs
// over the colon-separated parts, or one glob over the whole string for a value that is
// not an ARN (such as "*").
type arnPattern struct {
	raw   string
	all   bool
	n     int // number of parts; 0 for a whole-string glob
	parts [6]pattern
	whole pattern
}

func compileARN(s string, vars bool) (arnPattern, error) {
	a := arnPattern{raw: s, all: s == "*"}
	if !strings.HasPrefix(s, "arn:") {
		w, err := compilePattern(s, true, vars)
		a.whole = w
		return a, err
	}
	var parts [6]string
	a.n = splitARN(s, vars, &parts)
	for i, part := range parts[:a.n] {
		p, err := compilePattern(part, true, vars)
		if err != nil {
			return arnPattern{}, err
		}
		a.parts[i] = p
	}
	return a, nil
}

// match reports whether the ARN s matches; a '*' never crosses one of the first five
// colons, so an ARN must have as many parts as the pattern.
func (a *arnPattern) match(s string, c Context) bool {
	if a.all {
		return true
	}
	if a.n == 0 {
		return a.whole.match(s, c, false)
	}
	var parts [6]string
	if splitARN(s, false, &parts) != a.n {
		return false
	}
	for i := range a.n {
		if !a.parts[i].match(parts[i], c, false) {
			return false
		}
	}
	return true
}

// expand renders p with its variables resolved from c, for traces; an unresolved
// variable is shown as <unresolved key>. Wildcards print as written.
func (p *pattern) expand(c Context) string {
	var b strings.Builder
	for i := range p.atoms {
		a := &p.atoms[i]
		switch a.kind {
		case atomStar:
			b.WriteByte('*')
		case atomOne:
			b.WriteByte('?')
		case atomLit:
			b.WriteString(a.text)
		case atomVar:
			if v, ok := resolve(c, a); ok {
				b.WriteString(v)
			} else {
				b.WriteString("<unresolved " + a.text + ">")
			}
		}
	}
	return b.String()
}

// hasVars reports whether the ARN pattern holds policy variables.
func (a *arnPattern) hasVars() bool {
	if a.n == 0 {
		return a.whole.nvars > 0
	}
	for i := range a.n {
		if a.parts[i].nvars > 0 {
			return true
		}
	}
	return false
}

// expand renders the ARN pattern with its variables resolved, for traces.
func (a *arnPattern) expand(c Context) string {
	if a.n == 0 {
		return a.whole.expand(c)
	}
	parts := make([]string, a.n)
	for i := range a.n {
		parts[i] = a.parts[i].expand(c)
	}
	return strings.Join(parts, ":")
}
