package policy

import (
	"fmt"
	"strings"
)

// family groups condition operators by how they compare values.
type family uint8

const (
	famString     family = iota + 1 // StringEquals: exact, case-sensitive
	famStringFold                   // StringEqualsIgnoreCase
	famLike                         // StringLike: case-sensitive glob
	famNumeric
	famDate
	famBool
	famBinary
	famIP
	famARN // ArnEquals, ArnLike: per-segment glob
	famNull
)

// cmpOp is the comparison of numeric and date operators.
type cmpOp uint8

const (
	cmpEq cmpOp = iota
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

// setOp is a ForAnyValue:/ForAllValues: qualifier.
type setOp uint8

const (
	setNone setOp = iota
	setAny
	setAll
)

// operator is a parsed condition operator name.
type operator struct {
	name     string // canonical spelling, qualifier and suffix included
	base     string // canonical base name, e.g. StringNotLike
	fam      family
	cmp      cmpOp
	negated  bool
	ifExists bool
	set      setOp
}

// baseOperator returns the canonical spelling and the semantics of a base operator name,
// matched case-insensitively.
func baseOperator(name string) (canon string, fam family, cmp cmpOp, negated, ok bool) {
	type def struct {
		canon   string
		fam     family
		cmp     cmpOp
		negated bool
	}
	var d def
	switch strings.ToLower(name) {
	case "stringequals":
		d = def{"StringEquals", famString, cmpEq, false}
	case "stringnotequals":
		d = def{"StringNotEquals", famString, cmpEq, true}
	case "stringequalsignorecase":
		d = def{"StringEqualsIgnoreCase", famStringFold, cmpEq, false}
	case "stringnotequalsignorecase":
		d = def{"StringNotEqualsIgnoreCase", famStringFold, cmpEq, true}
	case "stringlike":
		d = def{"StringLike", famLike, cmpEq, false}
	case "stringnotlike":
		d = def{"StringNotLike", famLike, cmpEq, true}
	case "numericequals":
		d = def{"NumericEquals", famNumeric, cmpEq, false}
	case "numericnotequals":
		d = def{"NumericNotEquals", famNumeric, cmpEq, true}
	case "numericlessthan":
		d = def{"NumericLessThan", famNumeric, cmpLt, false}
	case "numericlessthanequals":
		d = def{"NumericLessThanEquals", famNumeric, cmpLe, false}
	case "numericgreaterthan":
		d = def{"NumericGreaterThan", famNumeric, cmpGt, false}
	case "numericgreaterthanequals":
		d = def{"NumericGreaterThanEquals", famNumeric, cmpGe, false}
	case "dateequals":
		d = def{"DateEquals", famDate, cmpEq, false}
	case "datenotequals":
		d = def{"DateNotEquals", famDate, cmpEq, true}
	case "datelessthan":
		d = def{"DateLessThan", famDate, cmpLt, false}
	case "datelessthanequals":
		d = def{"DateLessThanEquals", famDate, cmpLe, false}
	case "dategreaterthan":
		d = def{"DateGreaterThan", famDate, cmpGt, false}
	case "dategreaterthanequals":
		d = def{"DateGreaterThanEquals", famDate, cmpGe, false}
	case "bool":
		d = def{"Bool", famBool, cmpEq, false}
	case "binaryequals":
		d = def{"BinaryEquals", famBinary, cmpEq, false}
	case "ipaddress":
		d = def{"IpAddress", famIP, cmpEq, false}
	case "notipaddress":
		d = def{"NotIpAddress", famIP, cmpEq, true}
	case "arnequals":
		d = def{"ArnEquals", famARN, cmpEq, false}
	case "arnlike":
		d = def{"ArnLike", famARN, cmpEq, false}
	case "arnnotequals":
		d = def{"ArnNotEquals", famARN, cmpEq, true}
	case "arnnotlike":
		d = def{"ArnNotLike", famARN, cmpEq, true}
	case "null":
		d = def{"Null", famNull, cmpEq, false}
	default:
		return "", 0, 0, false, false
	}
	return d.canon, d.fam, d.cmp, d.negated, true
}

// parseOperator parses "[ForAnyValue:|ForAllValues:]<Base>[IfExists]".
func parseOperator(name string) (operator, error) {
	var op operator
	rest := name
	qual := ""
	if q, r, ok := strings.Cut(name, ":"); ok {
		switch strings.ToLower(q) {
		case "foranyvalue":
			op.set, qual = setAny, "ForAnyValue:"
		case "forallvalues":
			op.set, qual = setAll, "ForAllValues:"
		default:
			return operator{}, fmt.Errorf("unknown condition operator %q (the only qualifiers are ForAnyValue: and ForAllValues:)", name)
		}
		rest = r
	}
	if len(rest) > len("IfExists") && strings.EqualFold(rest[len(rest)-len("IfExists"):], "IfExists") {
		op.ifExists = true
		rest = rest[:len(rest)-len("IfExists")]
	}
	canon, fam, cmp, neg, ok := baseOperator(rest)
	if !ok {
		return operator{}, fmt.Errorf("unknown condition operator %q", name)
	}
	if fam == famNull && (op.ifExists || op.set != setNone) {
		return operator{}, fmt.Errorf("condition operator %q is not allowed: Null takes no IfExists suffix or set qualifier", name)
	}
	op.base, op.fam, op.cmp, op.negated = canon, fam, cmp, neg
	op.name = qual + canon
	if op.ifExists {
		op.name += "IfExists"
	}
	return op, nil
}

// allowsVariables reports whether policy variables are expanded in this family's values.
func (f family) allowsVariables() bool {
	return f == famString || f == famStringFold || f == famLike || f == famARN || f == famBool
}
