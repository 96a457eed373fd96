package storesync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/cartwheel/cartwheel/app/shopify"
)

// GraphQLAPI is the part of the Shopify client the import needs.
type GraphQLAPI interface {
	GraphQL(ctx context.Context, shop, token, query string, vars any, out any) error
}

var _ GraphQLAPI = (*shopify.Client)(nil)

var (
	// errBulkBusy: Shopify already runs a bulk query for this app and shop
	// (one at a time in 2025-10). The job retries later.
	errBulkBusy = errors.New("storesync: another bulk query is running for this shop")
	// errResultGone: the result URL expired (they live seven days) or is
	// unknown; the bulk query must run again.
	errResultGone = errors.New("storesync: bulk result link expired or missing")
)

// bulkOperation is Shopify's BulkOperation object.
type bulkOperation struct {
	ID              string    `json:"id"`
	Status          string    `json:"status"` // CREATED RUNNING COMPLETED FAILED CANCELING CANCELED EXPIRED
	ErrorCode       string    `json:"errorCode"`
	ObjectCount     uint64Str `json:"objectCount"`
	RootObjectCount uint64Str `json:"rootObjectCount"`
	FileSize        uint64Str `json:"fileSize"`
	URL             string    `json:"url"`
	PartialDataURL  string    `json:"partialDataUrl"`
}

const bulkOperationFields = `id status errorCode objectCount rootObjectCount fileSize url partialDataUrl`

// uint64Str reads Shopify's UnsignedInt64, which is a JSON string ("123");
// a number or null is accepted too.
type uint64Str int64

func (u *uint64Str) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		*u = 0
		return nil
	}
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("storesync: UnsignedInt64 %s: %w", b, err)
	}
	*u = uint64Str(n)
	return nil
}

const bulkRunMutation = `mutation BulkOperationRunQuery($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: true) {
    bulkOperation { ` + bulkOperationFields + ` }
    userErrors { field message code }
  }
}`

// groupObjects is asked for explicitly: the reader relies on children
// following their parent (2025-10's default; 2026-01 turns it off).

// runBulkQuery starts a bulk query and returns the operation.
func runBulkQuery(ctx context.Context, api GraphQLAPI, shop, token, query string) (bulkOperation, error) {
	var out struct {
		BulkOperationRunQuery struct {
			BulkOperation *bulkOperation `json:"bulkOperation"`
			UserErrors    []struct {
				Field   []string `json:"field"`
				Message string   `json:"message"`
				Code    string   `json:"code"`
			} `json:"userErrors"`
		} `json:"bulkOperationRunQuery"`
	}
	if err := api.GraphQL(ctx, shop, token, bulkRunMutation, map[string]any{"query": query}, &out); err != nil {
		return bulkOperation{}, err
	}
	p := out.BulkOperationRunQuery
	if len(p.UserErrors) > 0 {
		ue := p.UserErrors[0]
		if ue.Code == "OPERATION_IN_PROGRESS" {
			return bulkOperation{}, fmt.Errorf("%w: %s", errBulkBusy, ue.Message)
		}
		return bulkOperation{}, fmt.Errorf("storesync: bulk query refused: %s (%s)", ue.Message, ue.Code)
	}
	if p.BulkOperation == nil || p.BulkOperation.ID == "" {
		return bulkOperation{}, errors.New("storesync: bulk query started without an operation id")
	}
	return *p.BulkOperation, nil
}

const bulkStatusQuery = `query BulkOperationStatus($id: ID!) {
  node(id: $id) { ... on BulkOperation { ` + bulkOperationFields + ` } }
}`

// bulkStatus reads one operation by id. It asks for the operation by id
// rather than currentBulkOperation, which may by now be another one.
func bulkStatus(ctx context.Context, api GraphQLAPI, shop, token, id string) (bulkOperation, bool, error) {
	var out struct {
		Node *bulkOperation `json:"node"`
	}
	if err := api.GraphQL(ctx, shop, token, bulkStatusQuery, map[string]any{"id": id}, &out); err != nil {
		return bulkOperation{}, false, err
	}
	if out.Node == nil || out.Node.ID == "" {
		return bulkOperation{}, false, nil
	}
	return *out.Node, true, nil
}

// openResult GETs the JSONL result file, retrying rate limits, server
// errors and broken connections with backoff. An answer that says the
// link is no good (400, 403, 404, 410) is errResultGone.
func openResult(ctx context.Context, hc *http.Client, url string, attempts int) (io.ReadCloser, error) {
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, retryDelay(attempt-1, lastErr)); err != nil {
				return nil, fmt.Errorf("%w (last error: %v)", err, lastErr)
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, fmt.Errorf("storesync: result request: %w", err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			lastErr = err
			continue
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			return resp.Body, nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			lastErr = &statusError{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
			drain(resp.Body)
		case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusForbidden ||
			resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
			drain(resp.Body)
			return nil, fmt.Errorf("%w (HTTP %d)", errResultGone, resp.StatusCode)
		default:
			drain(resp.Body)
			return nil, fmt.Errorf("storesync: download result: HTTP %d", resp.StatusCode)
		}
	}
	return nil, fmt.Errorf("storesync: download result: %d attempts failed: %w", attempts, lastErr)
}

type statusError struct {
	status     int
	retryAfter string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d", e.status) }

// retryDelay honours Retry-After, else backs off exponentially from 200 ms
// (capped at 10 s) with jitter.
func retryDelay(attempt int, lastErr error) time.Duration {
	var se *statusError
	if errors.As(lastErr, &se) && se.retryAfter != "" {
		if secs, err := strconv.Atoi(se.retryAfter); err == nil && secs >= 0 && secs < 300 {
			return time.Duration(secs) * time.Second
		}
	}
	d := 200 * time.Millisecond << min(attempt-1, 6)
	d = min(d, 10*time.Second)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	body.Close()
}

// decodeJSON is json.Unmarshal with the error naming what was decoded.
func decodeJSON(b []byte, v any, what string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
