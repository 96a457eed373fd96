// Command fakeshopify runs app/shopify/shopifytest's fake Admin API as a
// process, for browser tests that run the real cartwheel binary
// (SHOPIFY_API_BASE_URL=<fake>). It knows the given shop with the dev demo
// shop's seeded token, and a small control API lets the test look inside:
//
//	GET  /discounts?shop=…     codes the app created (JSON)
//	GET  /customers?shop=…     customers the app created or updated (JSON)
//	POST /fail-discounts?n=N   the next N discount creations fail
//
// It prints "fake <admin api url> control <control url>" once listening and
// stops on SIGTERM or when stdin closes.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"

	"github.com/cartwheel/cartwheel/app/seed"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shopify/shopifytest"
)

// processTB lets shopifytest.NewServer, written for tests, run in a
// process: it only calls Helper and Cleanup. Any other testing.TB method
// would panic on the nil embedded interface, which is the loud failure we
// want if the fake starts needing more.
type processTB struct {
	testing.TB
	cleanups []func()
}

func (t *processTB) Helper()          {}
func (t *processTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

func main() {
	shop := flag.String("shop", "demo.myshopify.com", "shop the fake knows")
	key := flag.String("api-key", "cartwheel-dev-api-key", "app API key")
	secret := flag.String("api-secret", "cartwheel-dev-api-secret", "app API secret")
	flag.Parse()

	tb := &processTB{}
	fake := shopifytest.NewServer(tb, *key, *secret)
	fake.AddShop(shopify.ShopInfo{MyshopifyDomain: *shop, Name: "Demo Store", Email: "owner@demo-store.test"})
	fake.SetAccessToken(*shop, seed.DemoToken)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /discounts", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, fake.DiscountCodes(r.URL.Query().Get("shop")))
	})
	mux.HandleFunc("GET /customers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, fake.Customers(r.URL.Query().Get("shop")))
	})
	mux.HandleFunc("POST /fail-discounts", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil {
			http.Error(w, "n must be a number", http.StatusBadRequest)
			return
		}
		fake.FailNextDiscount(n)
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeshopify:", err)
		os.Exit(1)
	}
	go http.Serve(ln, mux) //nolint:errcheck // ends with the process
	fmt.Printf("fake %s control http://%s\n", fake.URL, ln.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop <- syscall.SIGTERM }()
	<-stop
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
