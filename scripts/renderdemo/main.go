// Command renderdemo renders every starter template, in every locale, with
// sample data into a folder (one .html and one .txt per template), for
// eyeballing and for the caniemail check in tests/unit/email-caniemail.test.mjs.
//
//	go run ./scripts/renderdemo -out /tmp/emails
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cartwheel/cartwheel/app/email/render"
)

func main() {
	out := flag.String("out", "", "folder to write the emails to")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: renderdemo -out DIR")
		os.Exit(2)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	d := sample()
	for _, loc := range render.StarterLocales() {
		for _, key := range render.StarterKeys() {
			tpl, _ := render.Starter(key, loc)
			c, err := render.Compile(tpl)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s/%s: %v\n", loc, key, err)
				os.Exit(1)
			}
			o, err := c.Render(d)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s/%s: %v\n", loc, key, err)
				os.Exit(1)
			}
			base := filepath.Join(*out, loc+"-"+key)
			if err := os.WriteFile(base+".html", []byte(o.HTML), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if err := os.WriteFile(base+".txt", []byte("Subject: "+o.Subject+"\nPreheader: "+o.Preheader+"\n\n"+o.Text), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
}

func sample() *render.RenderData {
	p := func(id int64, title, price string) render.Product {
		return render.Product{ID: id, Title: title, Price: price, URL: "https://demo.example/products/p" + fmt.Sprint(id),
			ImageURL: "https://cdn.example/p" + fmt.Sprint(id) + ".jpg"}
	}
	grid := []render.Product{p(1, "Linen shirt", "$49.00"), p(2, "Canvas tote", "$24.00"), p(3, "Straw hat", "$35.00"), p(4, "Sunglasses", "$89.00")}
	cart := []render.Product{p(5, "Rain boots", "$79.00"), p(6, "Wool socks", "$12.00")}
	cart[0].VariantTitle, cart[0].Quantity, cart[1].Quantity = "Yellow / 38", 1, 2
	return &render.RenderData{
		Shop:         render.Shop{Name: "Demo Store", URL: "https://demo.example", PostalAddress: "1 Harbour Street\nPortsmouth PO1 2AB\nUnited Kingdom", Currency: "USD"},
		Customer:     render.Customer{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"},
		DiscountCode: "THANKS10",
		CartURL:      "https://demo.example/checkouts/abc/recover?key=k1",
		Products: map[string][]render.Product{
			"cart": cart, "recently_viewed": grid, "best_sellers_30d": grid, "new_arrivals": grid, "bought_together": grid[:2],
		},
	}
}
