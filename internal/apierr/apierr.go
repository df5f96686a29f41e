// Package apierr holds the errors keyless puts on the wire, in AWS's shapes: the
// Query-protocol ErrorResponse of STS and the <Error> document of S3. Domain packages
// never build these; each protocol package maps its domain errors to an *Error in one
// function, and the renderers here write them.
package apierr

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Fault says whose fault an error is, as the Query protocol's <Type> element does.
type Fault string

const (
	Sender   Fault = "Sender"
	Receiver Fault = "Receiver"
)

// Field is an extra element of an S3 error document (AWSAccessKeyId, StringToSign, ...),
// kept in order.
type Field struct {
	Name  string
	Value string
}

// Error is one wire error. Message is what the client sees; Err is the cause, for logs
// and audit events only: it is never rendered.
type Error struct {
	Code    string
	Status  int
	Fault   Fault
	Message string
	Fields  []Field
	Err     error
}

// New returns an error with the given code, HTTP status and message. The fault is
// Receiver for 5xx statuses and Sender otherwise.
func New(code string, status int, message string) *Error {
	f := Sender
	if status >= 500 {
		f = Receiver
	}
	return &Error{Code: code, Status: status, Fault: f, Message: message}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// WithCause returns a copy of e that records err as its cause.
func (e *Error) WithCause(err error) *Error {
	c := *e
	c.Err = err
	return &c
}

// WithMessage returns a copy of e with another client-visible message.
func (e *Error) WithMessage(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// WithField returns a copy of e with one more extra element (S3 documents only).
func (e *Error) WithField(name, value string) *Error {
	c := *e
	c.Fields = append(append([]Field(nil), e.Fields...), Field{name, value})
	return &c
}

// STSInternal is what STS answers for any error it has no mapping for: the cause goes
// to the log, the client gets AWS's generic text.
func STSInternal(cause error) *Error {
	return &Error{Code: "InternalFailure", Status: http.StatusInternalServerError, Fault: Receiver,
		Message: "The request processing has failed because of an unknown error, exception or failure.", Err: cause}
}

// S3Internal is S3's generic server error.
func S3Internal(cause error) *Error {
	return &Error{Code: "InternalError", Status: http.StatusInternalServerError, Fault: Receiver,
		Message: "We encountered an internal error. Please try again.", Err: cause}
}

// STSNamespace is the XML namespace of every STS response.
const STSNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

type stsErrorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     stsError `xml:"Error"`
	RequestID string   `xml:"RequestId"`
}

type stsError struct {
	Type    Fault  `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// MarshalSTS renders e as STS's XML ErrorResponse.
func MarshalSTS(e *Error, requestID string) []byte {
	out, err := xml.Marshal(stsErrorResponse{
		Xmlns:     STSNamespace,
		Error:     stsError{Type: e.Fault, Code: e.Code, Message: e.Message},
		RequestID: requestID,
	})
	if err != nil { // only strings inside: cannot happen
		panic(err)
	}
	return out
}

// MarshalSTSJSON renders e in the JSON form STS answers to `Accept: application/json`.
func MarshalSTSJSON(e *Error, requestID string) []byte {
	out, _ := json.Marshal(map[string]any{
		"Error":     map[string]string{"Code": e.Code, "Message": e.Message, "Type": string(e.Fault)},
		"RequestId": requestID,
	})
	return out
}

// WriteSTS writes e as an STS error response (XML, or JSON when asJSON).
func WriteSTS(w http.ResponseWriter, e *Error, requestID string, asJSON bool) {
	var body []byte
	if asJSON {
		body = MarshalSTSJSON(e, requestID)
		w.Header().Set("Content-Type", "application/json")
	} else {
		body = MarshalSTS(e, requestID)
		w.Header().Set("Content-Type", "text/xml")
	}
	w.Header().Set("x-amzn-RequestId", requestID)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// MarshalS3 renders e as S3's <Error> document, extra fields after Message, then
// RequestId and HostId.
func MarshalS3(e *Error, requestID, hostID string) []byte {
	var b []byte
	b = append(b, xml.Header...)
	b = append(b, "<Error><Code>"...)
	b = appendEscaped(b, e.Code)
	b = append(b, "</Code><Message>"...)
	b = appendEscaped(b, e.Message)
	b = append(b, "</Message>"...)
	for _, f := range e.Fields {
		b = append(b, '<')
		b = append(b, f.Name...)
		b = append(b, '>')
		b = appendEscaped(b, f.Value)
		b = append(b, "</"...)
		b = append(b, f.Name...)
		b = append(b, '>')
	}
	b = append(b, "<RequestId>"...)
	b = appendEscaped(b, requestID)
	b = append(b, "</RequestId><HostId>"...)
	b = appendEscaped(b, hostID)
	b = append(b, "</HostId></Error>"...)
	return b
}

// WriteS3 writes e as an S3 error. A HEAD request gets the status and headers only, as S3 does.
func WriteS3(w http.ResponseWriter, r *http.Request, e *Error, requestID, hostID string) {
	h := w.Header()
	h.Set("x-amz-request-id", requestID)
	h.Set("x-amz-id-2", hostID)
	if r != nil && r.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	body := MarshalS3(e, requestID, hostID)
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// xmlText escapes character data. Unlike xml.EscapeText it keeps newlines literal, as
// S3 does inside <StringToSign> and <CanonicalRequest>.
var xmlText = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\"", "&quot;", "'", "&apos;", "\r", "&#xD;")

func appendEscaped(b []byte, s string) []byte {
	return append(b, xmlText.Replace(s)...)
}
