package shopifytest

// Bulk operations, as Shopify runs them for bulkOperationRunQuery: one
// query operation per shop at a time (2025-10), polled through
// currentBulkOperation or node(id:), moving CREATED → RUNNING → COMPLETED
// (or FAILED with an errorCode), and a JSONL result file served from its own
// URL, the way Shopify's signed storage URLs live outside the Admin API.
//
// Results are registered per shop and per root field of the bulk query
// ("customers", "products", "orders", "abandonedCheckouts") with
// SetBulkResult. A result is written lazily on every download, so a
// generator can stream millions of lines without holding them in memory.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// bulkResultPath prefixes result downloads: /bulk-results/{op id}/{key}.jsonl
const bulkResultPath = "/bulk-results/"

// BulkResult is what a bulk query over one root field returns.
type BulkResult struct {
	// Write writes the JSONL result file; it is called once per download.
	Write func(w io.Writer) error
	// ObjectCount counts every line (parents and children), RootObjectCount
	// the root objects only, as Shopify reports them.
	ObjectCount, RootObjectCount int64
	// FileSize in bytes; 0 reports null.
	FileSize int64
}

// BulkLines makes a BulkResult of ready JSONL lines (no trailing newline);
// lines with "__parentId" are counted as children.
func BulkLines(lines []string) BulkResult {
	var size, roots int64
	for _, l := range lines {
		size += int64(len(l)) + 1
		if !strings.Contains(l, `"__parentId"`) {
			roots++
		}
	}
	return BulkResult{
		Write: func(w io.Writer) error {
			for _, l := range lines {
				if _, err := io.WriteString(w, l+"\n"); err != nil {
					return err
				}
			}
			return nil
		},
		ObjectCount: int64(len(lines)), RootObjectCount: roots, FileSize: size,
	}
}

// bulkOp is one bulk operation and where it is in its life.
type bulkOp struct {
	id        int64
	shop      string
	query     string
	key       string // root field of the bulk query
	createdAt time.Time
	polls     int         // status reads so far; drives CREATED → RUNNING → COMPLETED
	failCode  string      // set: the operation ends FAILED with this errorCode
	result    *BulkResult // taken from a BulkSource when the operation ran
	token     string      // secret part of the result URL
	expired   bool
}

// bulkState is the fake's bulk-operation bookkeeping, under Server.mu.
type bulkState struct {
	results map[string]map[string]BulkResult // shop → key → result
	sources map[string]map[string]BulkSource // shop → key → source
	ops     map[int64]*bulkOp
	current map[string]*bulkOp // shop → most recent query operation
	failOps []string           // errorCodes for the next operations
	// breakAfter, when > 0, makes the next download stop after that many
	// lines, the connection cut as if the network failed.
	breakAfter int
	// PollsToComplete: status reads before an operation completes.
	pollsToComplete int
}

func (s *Server) bulk() *bulkState {
	if s.bulkState == nil {
		s.bulkState = &bulkState{
			results: map[string]map[string]BulkResult{}, sources: map[string]map[string]BulkSource{}, ops: map[int64]*bulkOp{},
			current: map[string]*bulkOp{}, pollsToComplete: 2,
		}
	}
	return s.bulkState
}

func (s *Server) registerBulk() {
	s.Handle("bulkOperationRunQuery", s.handleBulkRunQuery)
	s.Handle("currentBulkOperation", s.handleCurrentBulkOperation)
	s.Handle("node", s.handleNode)
}

// SetBulkResult sets what a bulk query whose root field is key
// ("customers", "orders", …) returns for shop.
func (s *Server) SetBulkResult(shop, key string, r BulkResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bulk()
	shop = strings.ToLower(shop)
	if b.results[shop] == nil {
		b.results[shop] = map[string]BulkResult{}
	}
	b.results[shop][key] = r
}

// BulkSource computes a bulk query's result when the operation starts, as
// Shopify exports the store as it is at that moment (the dev fake reads the
// demo shop's database).
type BulkSource func() (BulkResult, error)

// SetBulkSource makes bulk queries over key for shop take their result from
// src, called once per operation; it wins over SetBulkResult.
func (s *Server) SetBulkSource(shop, key string, src BulkSource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bulk()
	shop = strings.ToLower(shop)
	if b.sources[shop] == nil {
		b.sources[shop] = map[string]BulkSource{}
	}
	b.sources[shop][key] = src
}

// result is what op returns. Caller holds s.mu.
func (b *bulkState) result(op *bulkOp) (BulkResult, bool) {
	if op.result != nil {
		return *op.result, true
	}
	r, ok := b.results[op.shop][op.key]
	return r, ok
}

// SetBulkPolls sets how many status reads an operation takes to complete
// (default 2: the first read says RUNNING).
func (s *Server) SetBulkPolls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bulk().pollsToComplete = n
}

// FailNextBulkOperation makes the next bulk operation end FAILED with
// errorCode (ACCESS_DENIED, INTERNAL_SERVER_ERROR or TIMEOUT).
func (s *Server) FailNextBulkOperation(errorCode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bulk()
	b.failOps = append(b.failOps, errorCode)
}

// BreakNextDownload makes the next result download stop after n lines
// with the connection cut.
func (s *Server) BreakNextDownload(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bulk().breakAfter = n
}

// ExpireBulkResults makes every result URL issued so far for shop answer
// as an expired link does.
func (s *Server) ExpireBulkResults(shop string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range s.bulk().ops {
		if op.shop == strings.ToLower(shop) {
			op.expired = true
		}
	}
}

// BulkOperationsStarted counts the bulk operations created for shop.
func (s *Server) BulkOperationsStarted(shop string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, op := range s.bulk().ops {
		if op.shop == strings.ToLower(shop) {
			n++
		}
	}
	return n
}

func bulkGID(id int64) string { return "gid://shopify/BulkOperation/" + strconv.FormatInt(id, 10) }

func (s *Server) handleBulkRunQuery(c *Call) (any, error) {
	query := c.Field.ArgString("query")
	userError := func(code, msg string) (any, error) {
		return map[string]any{
			"__typename":    "BulkOperationRunQueryPayload",
			"bulkOperation": nil,
			"userErrors": []any{map[string]any{
				"__typename": "BulkOperationUserError", "field": []any{"query"}, "message": msg, "code": code,
			}},
		}, nil
	}
	doc, err := parseDocument(query)
	if err != nil {
		return userError("INVALID", "Invalid bulk query: "+err.Error())
	}
	if len(doc.ops) != 1 || doc.ops[0].kind != "query" || len(doc.ops[0].selections) != 1 {
		return userError("INVALID", "Bulk queries must contain exactly one query with one root field.")
	}
	key := doc.ops[0].selections[0].Name

	s.mu.Lock()
	src := s.bulk().sources[c.Shop][key]
	s.mu.Unlock()
	var snapshot *BulkResult
	if src != nil {
		// Outside the lock: a source may take a while (it reads a database).
		r, err := src()
		if err != nil {
			return nil, &Error{Message: "Internal error. Looks like something went wrong on our end.", Code: "INTERNAL_SERVER_ERROR"}
		}
		snapshot = &r
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bulk()
	if cur := b.current[c.Shop]; cur != nil && s.bulkStatus(cur, false) != "COMPLETED" && s.bulkStatus(cur, false) != "FAILED" {
		return userError("OPERATION_IN_PROGRESS", fmt.Sprintf("A bulk query operation for this app and shop is already in progress: %s.", bulkGID(cur.id)))
	}
	s.nextID++
	op := &bulkOp{id: s.nextID, shop: c.Shop, query: query, key: key, createdAt: s.Now(), token: randomHex(12), result: snapshot}
	if len(b.failOps) > 0 {
		op.failCode, b.failOps = b.failOps[0], b.failOps[1:]
	}
	b.ops[op.id] = op
	b.current[c.Shop] = op
	return map[string]any{
		"__typename":    "BulkOperationRunQueryPayload",
		"bulkOperation": s.bulkNode(op, false),
		"userErrors":    []any{},
	}, nil
}

func (s *Server) handleCurrentBulkOperation(c *Call) (any, error) {
	if t := c.Field.ArgString("type"); t == "MUTATION" {
		return nil, nil // bulk mutations are not modelled
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.bulk().current[c.Shop]
	if op == nil {
		return nil, nil
	}
	return s.bulkNode(op, true), nil
}

// handleNode answers node(id:) for bulk operations, the only node type the
// fake knows.
func (s *Server) handleNode(c *Call) (any, error) {
	gid := c.Field.ArgString("id")
	if !strings.HasPrefix(gid, "gid://shopify/BulkOperation/") {
		return nil, nil
	}
	id, err := strconv.ParseInt(gid[strings.LastIndexByte(gid, '/')+1:], 10, 64)
	if err != nil {
		return nil, &Error{Message: fmt.Sprintf("Invalid global id '%s'", gid), Code: "argumentLiteralsIncompatible", Static: true}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	op := s.bulk().ops[id]
	if op == nil || op.shop != c.Shop {
		return nil, nil
	}
	return s.bulkNode(op, true), nil
}

// bulkStatus reports op's status, advancing it when read is true. Caller
// holds s.mu.
func (s *Server) bulkStatus(op *bulkOp, read bool) string {
	if read {
		op.polls++
	}
	switch {
	case op.polls == 0:
		return "CREATED"
	case op.polls < s.bulk().pollsToComplete:
		return "RUNNING"
	case op.failCode != "":
		return "FAILED"
	default:
		return "COMPLETED"
	}
}

// bulkNode is the BulkOperation object. Caller holds s.mu.
func (s *Server) bulkNode(op *bulkOp, read bool) map[string]any {
	status := s.bulkStatus(op, read)
	res, ok := s.bulk().result(op)
	// UnsignedInt64 fields are strings in Shopify's JSON.
	count := func(n int64) string { return strconv.FormatInt(n, 10) }
	node := map[string]any{
		"__typename":      "BulkOperation",
		"id":              bulkGID(op.id),
		"status":          status,
		"errorCode":       nil,
		"createdAt":       op.createdAt.UTC().Format(time.RFC3339),
		"completedAt":     nil,
		"objectCount":     "0",
		"rootObjectCount": "0",
		"fileSize":        nil,
		"url":             nil,
		"partialDataUrl":  nil,
		"query":           op.query,
		"type":            "QUERY",
	}
	switch status {
	case "RUNNING":
		node["objectCount"] = count(res.ObjectCount / 2)
		node["rootObjectCount"] = count(res.RootObjectCount / 2)
	case "FAILED":
		node["errorCode"] = op.failCode
		node["objectCount"] = count(res.ObjectCount / 2)
	case "COMPLETED":
		node["completedAt"] = s.Now().UTC().Format(time.RFC3339)
		node["objectCount"] = count(res.ObjectCount)
		node["rootObjectCount"] = count(res.RootObjectCount)
		// An operation that found nothing has no file: url stays null.
		if ok && res.ObjectCount > 0 {
			if res.FileSize > 0 {
				node["fileSize"] = count(res.FileSize)
			}
			node["url"] = fmt.Sprintf("%s%s%d/%s.jsonl?token=%s", s.URL, bulkResultPath, op.id, op.key, op.token)
		}
	}
	return node
}

// serveBulkResult streams a result file. Expired or unknown links answer
// like a storage bucket: 403 for a bad signature, 404 otherwise.
func (s *Server) serveBulkResult(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, bulkResultPath)
	idStr, _, _ := strings.Cut(rest, "/")
	id, _ := strconv.ParseInt(idStr, 10, 64)
	s.mu.Lock()
	b := s.bulk()
	op := b.ops[id]
	var res BulkResult
	var found bool
	breakAfter := 0
	if op != nil {
		res, found = b.result(op)
		breakAfter, b.breakAfter = b.breakAfter, 0
	}
	s.mu.Unlock()
	switch {
	case op == nil || !found || s.bulkStatusLocked(op) != "COMPLETED":
		http.Error(w, "<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code></Error>", http.StatusNotFound)
		return
	case r.URL.Query().Get("token") != op.token:
		http.Error(w, "<?xml version='1.0' encoding='UTF-8'?><Error><Code>SignatureDoesNotMatch</Code></Error>", http.StatusForbidden)
		return
	case op.expired:
		http.Error(w, "<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/jsonl")
	bw := bufio.NewWriterSize(w, 64<<10)
	var out io.Writer = bw
	if breakAfter > 0 {
		out = &lineLimiter{w: bw, left: breakAfter}
	}
	err := res.Write(out)
	if err == nil {
		err = bw.Flush()
	} else {
		_ = bw.Flush() // deliver what was written before the cut
	}
	if err != nil {
		// Cut the connection so the client sees a broken body, not EOF.
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) bulkStatusLocked(op *bulkOp) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bulkStatus(op, false)
}

// lineLimiter passes through whole lines until left reaches zero, then
// fails.
type lineLimiter struct {
	w    io.Writer
	left int
}

var errCut = fmt.Errorf("shopifytest: download cut")

func (l *lineLimiter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if l.left <= 0 {
			return written, errCut
		}
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i+1]
			l.left--
		}
		n, err := l.w.Write(chunk)
		written += n
		if err != nil {
			return written, err
		}
		p = p[len(chunk):]
	}
	return written, nil
}
