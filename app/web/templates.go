package web

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/catalog"
	"github.com/cartwheel/cartwheel/app/customers"
	"github.com/cartwheel/cartwheel/app/email/compose"
	"github.com/cartwheel/cartwheel/app/email/ledger"
	"github.com/cartwheel/cartwheel/app/email/providers"
	"github.com/cartwheel/cartwheel/app/email/render"
	"github.com/cartwheel/cartwheel/app/email/sender"
	"github.com/cartwheel/cartwheel/app/email/tracking"
	"github.com/cartwheel/cartwheel/app/input"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/views"
)

// EmailAdmin are Admin › Templates' and the outbox's dependencies.
type EmailAdmin struct {
	Templates *render.Store
	Products  *render.ProductSource
	Sender    *sender.Sender
	// Outbox is set when MAIL_PROVIDER=outbox: Admin › Outbox shows what
	// would have been delivered.
	Outbox *providers.Outbox
}

// previewDiscountCode stands in for the code a flow or campaign creates.
const previewDiscountCode = "SAMPLE-CODE"

// maxTemplateForm bounds an editor POST (the template JSON is at most 256 KB).
const maxTemplateForm = 1 << 20

func (s *server) templateRoutes(app *gin.RouterGroup) {
	if s.Mail.Templates == nil {
		for _, p := range comingSoonPages {
			if p.key == "templates" {
				app.GET(p.path, s.comingSoon(p))
			}
		}
		return
	}
	app.GET("/templates", s.templatesPage)
	app.POST("/templates", s.templateFromStarter)
	app.GET("/templates/:id", s.templateEdit)
	app.POST("/templates/:id", s.templateSave)
	app.POST("/templates/:id/blocks", s.templateBlocks)
	app.GET("/templates/:id/preview", s.templatePreview)
	app.POST("/templates/:id/preview", s.templateLivePreview)
	app.POST("/templates/:id/test", s.templateTest)
	app.POST("/templates/:id/rename", s.templateRename)
	app.POST("/templates/:id/duplicate", s.templateDuplicate)
	app.POST("/templates/:id/delete", s.templateDelete)
	app.GET("/starters/:key/preview", s.starterPreview)
	if s.Catalog != nil {
		app.GET("/catalog/products", s.productPicker)
	}
	if s.Mail.Outbox != nil {
		app.GET("/outbox", s.outboxPage)
		app.GET("/outbox/:id", s.outboxMessage)
		app.GET("/outbox/:id/html", s.outboxHTML)
	}
}

func (s *server) templatesPage(c *gin.Context) {
	s.renderTemplates(c, http.StatusOK, views.TemplatesList{})
}

// renderTemplates renders the gallery: the shop's templates and the
// starters as cards grouped by purpose. l carries the outcome to show
// (an error, a notice, a refused delete).
func (s *server) renderTemplates(c *gin.Context, status int, l views.TemplatesList) {
	sh := currentShop(c)
	rows, err := s.Mail.Templates.List(c.Request.Context(), sh.ID, 200)
	if err != nil {
		s.fail(c, err)
		return
	}
	l.Outbox = s.Mail.Outbox != nil
	for _, r := range rows {
		l.Rows = append(l.Rows, views.TemplateRow{ID: r.ID, Name: r.Name, Locale: r.Locale, Starter: r.StarterKey,
			Updated: r.UpdatedAt.UTC().Format("2 Jan 2006 15:04")})
	}
	for _, loc := range []string{render.LocaleEN, render.LocaleZH} {
		for _, k := range render.StarterKeys() {
			t, ok := render.Starter(k, loc)
			if !ok {
				continue
			}
			l.Starters = append(l.Starters, views.StarterCard{Key: k, Locale: loc, Name: t.Name, Subject: t.Subject, Blocks: len(t.Blocks)})
		}
	}
	s.render(c, status, views.Templates(s.page(c, "Templates", "templates"), l))
}

// templateDone answers a gallery action: htmx gets the gallery with the
// notice; a plain form post is redirected to it.
func (s *server) templateDone(c *gin.Context, notice string) {
	if c.GetHeader("HX-Request") == "" {
		c.Redirect(http.StatusSeeOther, "/app/templates")
		return
	}
	s.renderTemplates(c, http.StatusOK, views.TemplatesList{Notice: notice})
}

func (s *server) templateRename(c *gin.Context) {
	t, ok := s.loadTemplate(c)
	if !ok {
		return
	}
	name := strings.TrimSpace(c.PostForm("name"))
	err := s.Mail.Templates.Rename(c.Request.Context(), currentShop(c).ID, t.ID, name)
	var fe render.FieldErrors
	switch {
	case errors.As(err, &fe):
		msg := fe["name"]
		if msg == "" {
			// The stored template no longer validates (an older rule): say so
			// rather than pretend the name is wrong.
			msg = "This template has problems to fix in the editor before it can be renamed."
		}
		s.renderTemplates(c, http.StatusUnprocessableEntity, views.TemplatesList{Error: "Not renamed: " + msg, RenameID: t.ID, RenameValue: name})
		return
	case errors.Is(err, render.ErrNotFound):
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "no such template"})
		return
	case err != nil:
		s.fail(c, err)
		return
	}
	s.templateDone(c, fmt.Sprintf("Renamed to “%s”.", name))
}

func (s *server) templateDuplicate(c *gin.Context) {
	t, ok := s.loadTemplate(c)
	if !ok {
		return
	}
	_, err := s.Mail.Templates.Duplicate(c.Request.Context(), currentShop(c).ID, t.ID)
	var fe render.FieldErrors
	switch {
	case errors.As(err, &fe) || errors.Is(err, render.ErrTooLarge):
		s.renderTemplates(c, http.StatusUnprocessableEntity, views.TemplatesList{Error: "Not copied: the template has problems to fix in the editor first."})
		return
	case errors.Is(err, render.ErrNotFound):
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "no such template"})
		return
	case err != nil:
		s.fail(c, err)
		return
	}
	s.templateDone(c, fmt.Sprintf("Copied “%s”.", t.Template.Name))
}

// templateDelete deletes a template nothing sends; one that a flow or a
// campaign still uses is refused with 409 and the list of them.
func (s *server) templateDelete(c *gin.Context) {
	t, ok := s.loadTemplate(c)
	if !ok {
		return
	}
	err := s.Mail.Templates.Delete(c.Request.Context(), currentShop(c).ID, t.ID)
	var inUse *render.InUseError
	switch {
	case errors.As(err, &inUse):
		l := views.TemplatesList{InUse: &views.TemplateInUse{Name: t.Template.Name}}
		for _, u := range inUse.Users {
			l.InUse.Users = append(l.InUse.Users, views.TemplateUser{Kind: u.Kind, Name: u.Name,
				Href: "/app/" + u.Kind + "s/" + strconv.FormatInt(u.ID, 10)})
		}
		s.renderTemplates(c, http.StatusConflict, l)
		return
	case errors.Is(err, render.ErrNotFound):
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "no such template"})
		return
	case err != nil:
		s.fail(c, err)
		return
	}
	s.templateDone(c, fmt.Sprintf("Deleted “%s”.", t.Template.Name))
}

// maxPickerQuery bounds a product search.
const maxPickerQuery = 100

// productPicker answers the product block's picker (htmx): the shop's
// products matching ?q=, with thumbnail and price, each with an "Add".
func (s *server) productPicker(c *gin.Context) {
	q := strings.TrimSpace(c.Query("q"))
	if n := utf8.RuneCountInString(q); n > maxPickerQuery {
		c.Data(http.StatusUnprocessableEntity, "text/plain; charset=utf-8", []byte(fmt.Sprintf("Search for at most %d characters (this is %d).", maxPickerQuery, n)))
		return
	}
	sh := currentShop(c)
	rows, err := s.Catalog.SearchProducts(c.Request.Context(), sh.ID, q)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	s.render(c, http.StatusOK, views.ProductPickerResults(q, pickerCards(rows, sh.Currency)))
}

func pickerCards(rows []catalog.ProductCard, currency string) []views.PickerProduct {
	out := make([]views.PickerProduct, 0, len(rows))
	for _, r := range rows {
		price := ""
		if r.PriceMin != "" {
			price = render.FormatMoney(r.PriceMin, currency)
			if r.PriceMax != "" && r.PriceMax != r.PriceMin {
				price += " – " + render.FormatMoney(r.PriceMax, currency)
			}
		}
		out = append(out, views.PickerProduct{ID: r.ID, Title: r.Title, ImageURL: r.ImageURL, Price: price})
	}
	return out
}

// pickedProducts fills the product blocks' chosen products (names,
// thumbnails) for the editor.
func (s *server) pickedProducts(ctx context.Context, sh shops.Shop, e *views.TemplateEditor, t render.Template) error {
	if s.Catalog == nil {
		return nil
	}
	for i, b := range t.Blocks {
		if b.Type != render.BlockProducts || len(b.ProductIDs) == 0 || i >= len(e.Blocks) {
			continue
		}
		rows, err := s.Catalog.ProductCards(ctx, sh.ID, b.ProductIDs)
		if err != nil {
			return err
		}
		e.Blocks[i].Picked = pickerCards(rows, sh.Currency)
	}
	return nil
}

// starterPreview renders a starter as the gallery's thumbnail shows it.
func (s *server) starterPreview(c *gin.Context) {
	t, ok := render.Starter(c.Param("key"), c.Query("locale"))
	if !ok {
		c.Data(http.StatusNotFound, "text/plain; charset=utf-8", []byte("There is no such ready-made template."))
		return
	}
	framedHeaders(c, currentShop(c).Domain)
	s.renderPreview(c, t, "")
}

func (s *server) templateFromStarter(c *gin.Context) {
	sh := currentShop(c)
	id, err := s.Mail.Templates.FromStarter(c.Request.Context(), sh.ID, c.PostForm("starter"), c.PostForm("locale"))
	if errors.Is(err, render.ErrNotFound) {
		s.renderTemplates(c, http.StatusUnprocessableEntity, views.TemplatesList{Error: "There is no such ready-made template."})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	to := "/app/templates/" + strconv.FormatInt(id, 10)
	if c.GetHeader("HX-Request") != "" {
		c.Header("HX-Redirect", to)
		c.Status(http.StatusCreated)
		return
	}
	c.Redirect(http.StatusSeeOther, to)
}

// loadTemplate reads the :id template of the current shop; false after answering 404.
func (s *server) loadTemplate(c *gin.Context) (render.Saved, bool) {
	err := render.ErrNotFound
	if id, perr := strconv.ParseInt(c.Param("id"), 10, 64); perr == nil && id > 0 {
		var t render.Saved
		t, err = s.Mail.Templates.Get(c.Request.Context(), currentShop(c).ID, id)
		if err == nil {
			return t, true
		}
	}
	if !errors.Is(err, render.ErrNotFound) {
		s.fail(c, err)
		return render.Saved{}, false
	}
	if c.GetHeader("HX-Request") != "" || c.Request.Method != http.MethodGet {
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "no such template"})
		return render.Saved{}, false
	}
	s.renderError(c, http.StatusNotFound, "There is no such template in your store.")
	c.Abort()
	return render.Saved{}, false
}

func (s *server) templateEdit(c *gin.Context) {
	t, ok := s.loadTemplate(c)
	if !ok {
		return
	}
	sh := currentShop(c)
	list, err := s.previewCustomers(c.Request.Context(), sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	st, err := s.Shops.Settings(c.Request.Context(), sh.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	pg := views.TemplatePage{Editor: editorFrom(t.ID, t.Template, nil), Outbox: s.Mail.Outbox != nil,
		Test: views.TestSend{TemplateID: t.ID}, NoAddress: strings.TrimSpace(st.PostalAddress) == ""}
	if err := s.pickedProducts(c.Request.Context(), sh, &pg.Editor, t.Template); err != nil {
		s.fail(c, err)
		return
	}
	for _, cu := range list {
		label := cu.Name()
		if cu.Email != nil && label != *cu.Email {
			label += " <" + *cu.Email + ">"
		}
		pg.Customers = append(pg.Customers, views.Option{Value: strconv.FormatInt(cu.ID, 10), Label: label})
	}
	if id := c.Query("customer_id"); id != "" {
		pg.CustomerID = id
	}
	s.render(c, http.StatusOK, views.TemplateEditPage(s.page(c, t.Template.Name, "templates"), pg))
}

func (s *server) previewCustomers(ctx context.Context, shopID int64) ([]customers.ListItem, error) {
	if s.Customers == nil {
		return nil, nil
	}
	f := customers.ListFilter{Limit: 100}
	f.Normalize()
	page, err := s.Customers.List(ctx, shopID, f)
	if err != nil {
		return nil, err
	}
	return page.Customers, nil
}

func (s *server) templateSave(c *gin.Context) {
	saved, ok := s.loadTemplate(c)
	if !ok {
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxTemplateForm)
	t, formErrs := templateFromForm(c)
	if len(formErrs) == 0 {
		_, err := s.Mail.Templates.Save(c.Request.Context(), currentShop(c).ID, saved.ID, saved.StarterKey, t)
		var fe render.FieldErrors
		switch {
		case errors.As(err, &fe):
			formErrs = fe
		case errors.Is(err, render.ErrTooLarge):
			formErrs = render.FieldErrors{"": sentence(err)}
		case errors.Is(err, render.ErrNotFound):
			c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "no such template"})
			return
		case err != nil:
			s.fail(c, err)
			return
		}
	}
	if len(formErrs) > 0 {
		e := editorFrom(saved.ID, t, formErrs)
		if err := s.pickedProducts(c.Request.Context(), currentShop(c), &e, t); err != nil {
			s.fail(c, err)
			return
		}
		s.render(c, http.StatusUnprocessableEntity, views.TemplateEditorForm(e))
		return
	}
	e := editorFrom(saved.ID, t, nil)
	e.Saved = true
	if err := s.pickedProducts(c.Request.Context(), currentShop(c), &e, t); err != nil {
		s.fail(c, err)
		return
	}
	s.render(c, http.StatusOK, views.TemplateEditorForm(e))
}

// templateBlocks adds, removes or moves a block of the posted (unsaved) form.
func (s *server) templateBlocks(c *gin.Context) {
	saved, ok := s.loadTemplate(c)
	if !ok {
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxTemplateForm)
	t, _ := templateFromForm(c)
	op, arg, _ := strings.Cut(c.PostForm("op"), ":")
	n := len(t.Blocks) - 1 // the footer stays last
	i := -1
	if op != "add" {
		n64, err := input.Int("op", arg, 0, int64(render.MaxBlocks))
		if err != nil {
			c.AbortWithStatusJSON(http.StatusUnprocessableEntity, gin.H{"error": "the block to " + op + " " + strings.TrimPrefix(err.Error(), "op ")})
			return
		}
		i = int(n64)
	}
	switch op {
	case "add":
		if len(t.Blocks) >= render.MaxBlocks {
			break
		}
		b, ok := newBlock(render.BlockType(arg))
		if !ok {
			c.AbortWithStatusJSON(http.StatusUnprocessableEntity, gin.H{"error": "unknown block type"})
			return
		}
		t.Blocks = append(t.Blocks[:n], b, t.Blocks[n])
	case "remove":
		if i >= 0 && i < n {
			t.Blocks = append(t.Blocks[:i], t.Blocks[i+1:]...)
		}
	case "up":
		if i > 0 && i < n {
			t.Blocks[i-1], t.Blocks[i] = t.Blocks[i], t.Blocks[i-1]
		}
	case "down":
		if i >= 0 && i < n-1 {
			t.Blocks[i+1], t.Blocks[i] = t.Blocks[i], t.Blocks[i+1]
		}
	default:
		c.AbortWithStatusJSON(http.StatusUnprocessableEntity, gin.H{"error": "unknown action"})
		return
	}
	e := editorFrom(saved.ID, t, nil)
	e.Changed = true
	if err := s.pickedProducts(c.Request.Context(), currentShop(c), &e, t); err != nil {
		s.fail(c, err)
		return
	}
	s.render(c, http.StatusOK, views.TemplateEditorForm(e))
}

func newBlock(t render.BlockType) (render.Block, bool) {
	switch t {
	case render.BlockLogo, render.BlockDivider:
		return render.Block{Type: t}, true
	case render.BlockHeading:
		return render.Block{Type: t, Text: "A new heading"}, true
	case render.BlockText:
		return render.Block{Type: t, HTML: "<p>Write something here.</p>"}, true
	case render.BlockImage:
		return render.Block{Type: t, Images: []render.Image{{URL: "https://placehold.co/600x300.png", Alt: "Image"}}}, true
	case render.BlockButton:
		return render.Block{Type: t, Text: "Shop now", URL: "{{ shop_url }}"}, true
	case render.BlockProducts:
		return render.Block{Type: t, Source: render.SourceBestSellers, Count: 3, Text: "Best sellers"}, true
	case render.BlockDiscount:
		return render.Block{Type: t, Text: "Your code"}, true
	case render.BlockSpacer:
		return render.Block{Type: t, Height: 24}, true
	case render.BlockSocial:
		return render.Block{Type: t, Links: []render.SocialLink{{Network: "instagram", URL: "https://instagram.com/"}}}, true
	}
	return render.Block{}, false
}

// templateFromForm reads the editor form. Problems the form itself has
// (a height that is not a number) come back keyed like Validate's. Rich
// text is sanitised here, so what is saved is what is shown. A missing
// footer is added: every email has one.
func templateFromForm(c *gin.Context) (render.Template, render.FieldErrors) {
	errs := render.FieldErrors{}
	t := render.Template{
		Name:      strings.TrimSpace(c.PostForm("name")),
		Locale:    c.PostForm("locale"),
		Subject:   strings.TrimSpace(c.PostForm("subject")),
		Preheader: strings.TrimSpace(c.PostForm("preheader")),
	}
	n, _ := strconv.Atoi(c.PostForm("block_count"))
	if n < 0 || n > render.MaxBlocks+1 {
		n = 0
	}
	var footer *render.Block
	for i := 0; i < n; i++ {
		f := func(name string) string { return c.PostForm(fmt.Sprintf("blocks[%d].%s", i, name)) }
		key := func(name string) string { return fmt.Sprintf("blocks[%d].%s", len(t.Blocks), name) }
		b := render.Block{
			Type: render.BlockType(f("type")), Text: strings.TrimSpace(f("text")), URL: strings.TrimSpace(f("url")),
			ImageURL: strings.TrimSpace(f("image_url")), Alt: strings.TrimSpace(f("alt")), Align: f("align"),
			Source: render.Source(f("source")),
		}
		if b.Type == "" {
			continue
		}
		if h := f("html"); h != "" {
			b.HTML = render.SanitizeHTML(h)
		}
		if v := strings.TrimSpace(f("height")); v != "" {
			h, err := strconv.Atoi(v)
			if err != nil {
				errs[key("height")] = "Enter a height in pixels."
			}
			b.Height = h
		}
		if v := strings.TrimSpace(f("count")); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs[key("count")] = "Enter a number of products."
			}
			b.Count = n
		}
		for _, p := range strings.FieldsFunc(f("product_ids"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
			id, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
			if err != nil || id <= 0 {
				errs[key("product_ids")] = fmt.Sprintf("%q is not a product id.", p)
				continue
			}
			b.ProductIDs = append(b.ProductIDs, id)
		}
		for _, line := range lines(f("images")) {
			parts := splitPipe(line, 3)
			b.Images = append(b.Images, render.Image{URL: parts[0], Alt: parts[1], Link: parts[2]})
		}
		for _, line := range lines(f("links")) {
			parts := splitPipe(line, 2)
			if parts[1] == "" { // "instagram https://…"
				if a, z, ok := strings.Cut(parts[0], " "); ok {
					parts[0], parts[1] = a, strings.TrimSpace(z)
				}
			}
			b.Links = append(b.Links, render.SocialLink{Network: strings.ToLower(parts[0]), URL: parts[1]})
		}
		if b.Type == render.BlockFooter {
			if footer == nil {
				fb := b
				footer = &fb
			}
			continue
		}
		t.Blocks = append(t.Blocks, b)
	}
	if footer == nil {
		footer = &render.Block{Type: render.BlockFooter}
	}
	t.Blocks = append(t.Blocks, *footer)
	return t, errs
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func splitPipe(s string, n int) []string {
	parts := strings.SplitN(s, "|", n)
	for len(parts) < n {
		parts = append(parts, "")
	}
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// editorFrom turns a template (and Validate's errors) into the form.
func editorFrom(id int64, t render.Template, errs render.FieldErrors) views.TemplateEditor {
	e := views.TemplateEditor{ID: id, Name: t.Name, Locale: t.Locale, Subject: t.Subject, Preheader: t.Preheader, Errors: map[string]string{}}
	for i, b := range t.Blocks {
		bf := views.BlockForm{Index: i, Type: string(b.Type), Text: b.Text, HTML: b.HTML, URL: b.URL, ImageURL: b.ImageURL,
			Alt: b.Alt, Align: b.Align, Source: string(b.Source), Errors: map[string]string{},
			First: i == 0, Last: i >= len(t.Blocks)-2}
		if b.Height != 0 || b.Type == render.BlockSpacer {
			bf.Height = strconv.Itoa(b.Height)
		}
		if b.Count != 0 || b.Type == render.BlockProducts {
			bf.Count = strconv.Itoa(b.Count)
		}
		ids := make([]string, len(b.ProductIDs))
		for j, p := range b.ProductIDs {
			ids[j] = strconv.FormatInt(p, 10)
		}
		bf.ProductIDs = strings.Join(ids, ", ")
		var sb strings.Builder
		for _, im := range b.Images {
			sb.WriteString(strings.TrimRight(im.URL+" | "+im.Alt+" | "+im.Link, " |") + "\n")
		}
		bf.Images = sb.String()
		sb.Reset()
		for _, l := range b.Links {
			sb.WriteString(l.Network + " | " + l.URL + "\n")
		}
		bf.Links = sb.String()
		e.Blocks = append(e.Blocks, bf)
	}
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		msg := errs[k]
		var bi int
		var rest string
		if _, err := fmt.Sscanf(k, "blocks[%d].", &bi); err == nil && strings.HasPrefix(k, "blocks[") {
			_, rest, _ = strings.Cut(k, "].")
			field, _, _ := strings.Cut(rest, "[")
			field, _, _ = strings.Cut(field, ".")
			if bi >= 0 && bi < len(e.Blocks) {
				if _, dup := e.Blocks[bi].Errors[field]; !dup {
					e.Blocks[bi].Errors[field] = msg
				}
			}
			e.Errors[k] = fmt.Sprintf("Block %d: %s", bi+1, msg)
			continue
		}
		e.Errors[k] = msg
	}
	return e
}

// recipientData fills a render for the chosen customer of the shop (the
// first one when none is chosen; a sample when the shop has none) through
// the same composer the sender uses at send time, with a sample discount
// code standing in for the one a flow or campaign creates.
func (s *server) recipientData(ctx context.Context, sh shops.Shop, customerID string, comp *render.Compiled) (render.RenderData, int64, error) {
	st, err := s.Shops.Settings(ctx, sh.ID)
	if err != nil {
		return render.RenderData{}, 0, err
	}
	shop := compose.Shop(sh, st)
	who := compose.Recipient{FirstName: "Alex", LastName: "Sample", Email: "alex@example.com"}
	list, err := s.previewCustomers(ctx, sh.ID)
	if err != nil {
		return render.RenderData{Shop: shop}, 0, err
	}
	var chosen *customers.ListItem
	for i := range list {
		if strconv.FormatInt(list[i].ID, 10) == customerID {
			chosen = &list[i]
		}
	}
	if chosen == nil && len(list) > 0 {
		chosen = &list[0]
	}
	if chosen != nil {
		who = compose.Recipient{CustomerID: chosen.ID, FirstName: chosen.FirstName, LastName: chosen.LastName}
		if chosen.Email != nil {
			who.Email = *chosen.Email
		}
	}
	var products compose.Products
	if s.Mail.Products != nil {
		products = s.Mail.Products
	}
	d, err := compose.Data(ctx, products, sh.ID, shop, who, map[string]string{ledger.ContextDiscountCode: previewDiscountCode}, comp)
	return d, who.CustomerID, err
}

// framedHeaders are for documents shown in the admin's sandboxed iframes
// (previews, stored emails): no scripts, no plugins, no forms; images from anywhere.
func framedHeaders(c *gin.Context, shop string) {
	ancestors := "'self' https://admin.shopify.com"
	if shop != "" {
		ancestors += " https://" + strings.ToLower(shop)
	}
	c.Header("Content-Security-Policy", "default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; font-src https: data:; form-action 'none'; base-uri 'none'; sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation; frame-ancestors "+ancestors)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Referrer-Policy", "no-referrer")
	c.Header("Cache-Control", "no-store")
}

func (s *server) templatePreview(c *gin.Context) {
	t, ok := s.loadTemplate(c)
	if !ok {
		return
	}
	framedHeaders(c, currentShop(c).Domain)
	s.renderPreview(c, t.Template, c.Query("customer_id"))
}

// templateLivePreview renders the editor's unsaved form, so the preview
// follows the merchant's typing; the admin shows the result in the same
// sandboxed, script-free frame. Nothing is saved.
func (s *server) templateLivePreview(c *gin.Context) {
	if _, ok := s.loadTemplate(c); !ok {
		return
	}
	t, errs := templateFromForm(c)
	if len(errs) == 0 {
		errs = render.Validate(t)
	}
	if len(errs) > 0 {
		msgs := make([]string, 0, len(errs))
		for _, m := range errs {
			msgs = append(msgs, m)
		}
		sort.Strings(msgs)
		c.Data(http.StatusUnprocessableEntity, "text/plain; charset=utf-8", []byte("Fix these to see the preview:\n"+strings.Join(msgs, "\n")))
		return
	}
	s.renderPreview(c, t, c.PostForm("customer_id"))
}

// renderPreview renders t for a chosen customer (or a sample one).
func (s *server) renderPreview(c *gin.Context, t render.Template, customerID string) {
	sh := currentShop(c)
	if customerID != "" {
		if _, err := input.ID("customer_id", customerID); err != nil {
			c.Data(http.StatusBadRequest, "text/plain; charset=utf-8", []byte("This preview can't be shown: "+err.Error()+"."))
			return
		}
	}
	comp, err := render.Compile(t)
	if err != nil {
		c.Data(http.StatusUnprocessableEntity, "text/plain; charset=utf-8", []byte("This template can't be previewed: "+err.Error()))
		return
	}
	d, _, err := s.recipientData(c.Request.Context(), sh, customerID, comp)
	if err != nil {
		s.fail(c, err)
		return
	}
	d.UnsubscribeURL = "https://" + sh.Domain + "/#unsubscribe-preview"
	// A new shop edits templates before it has filled in Settings: the
	// preview stands a placeholder in for the address (sending still refuses).
	noAddress := strings.TrimSpace(d.Shop.PostalAddress) == ""
	if noAddress {
		d.Shop.PostalAddress = addressPlaceholder
	}
	out, err := comp.Render(&d)
	if err != nil {
		s.fail(c, err)
		return
	}
	page := out.HTML
	if noAddress {
		page = strings.ReplaceAll(page, addressPlaceholder, addressPlaceholderHTML)
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(page))
}

// addressPlaceholder is rendered (escaped, unchanged) where the address
// goes, then swapped for addressPlaceholderHTML: the rendered footer keeps
// its real layout and only the address reads as a to-do.
const addressPlaceholder = "CARTWHEEL-POSTAL-ADDRESS-PLACEHOLDER"

// The preview frame is sandboxed without top navigation, so the link opens
// Settings in a new tab (allow-popups); the editor also shows a banner.
const addressPlaceholderHTML = `<a href="/app/settings#f-postal_address" target="_blank" rel="noopener" data-address-placeholder style="color:#b45309;text-decoration:underline;">Your postal address — set it in Settings</a>`

func (s *server) templateTest(c *gin.Context) {
	t, ok := s.loadTemplate(c)
	if !ok {
		return
	}
	to := strings.TrimSpace(c.PostForm("to"))
	s.sendTest(c, views.TestSend{TemplateID: t.ID, To: to}, t.Template, "template:"+strconv.FormatInt(t.ID, 10))
}

// sendTest sends t to the address in v (a test: not marketing, not in any
// report) with the previewed customer's data, and renders the test form
// with the outcome.
func (s *server) sendTest(c *gin.Context, v views.TestSend, t render.Template, category string) {
	sh := currentShop(c)
	ctx := c.Request.Context()
	to := v.To
	fail := func(status int, msg string, settings bool) {
		v.Error, v.SettingsLink = msg, settings
		s.render(c, status, views.TestSendForm(v))
	}
	if a, err := mail.ParseAddress(to); err != nil || a.Address != to || len(to) > 254 || !strings.Contains(to[strings.LastIndex(to, "@")+1:], ".") {
		fail(http.StatusUnprocessableEntity, "Enter an email address to send the test to, like you@example.com.", false)
		return
	}
	if ok, wait := s.allow(c, testSendsPerShop, strconv.FormatInt(sh.ID, 10)); !ok {
		// htmx doesn't swap a 429; admin.js shows its "error" in a toast.
		retryAfter(c, wait)
		c.JSON(http.StatusTooManyRequests, gin.H{"error": testSendsPerShop.Message})
		return
	}
	if s.Email.Senders != nil {
		verified, err := s.Email.Senders.Verified(ctx, sh.ID)
		if err != nil {
			s.fail(c, err)
			return
		}
		if !verified {
			fail(http.StatusUnprocessableEntity, unverifiedMessage(), true)
			return
		}
	}
	comp, err := render.Compile(t)
	if err != nil {
		fail(http.StatusUnprocessableEntity, "This template can't be sent: "+err.Error(), false)
		return
	}
	d, _, err := s.recipientData(ctx, sh, c.PostForm("customer_id"), comp)
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := comp.Render(&d)
	if errors.Is(err, render.ErrNoPostalAddress) {
		fail(http.StatusUnprocessableEntity, "Add your postal address in Settings first: every email shows it in the footer.", true)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	res, err := s.Mail.Sender.Send(ctx, sender.Request{
		ShopID: sh.ID, To: to, Kind: ledger.KindTest, DedupeKey: "test:" + hex.EncodeToString(nonce[:]),
		Marketing: false, Subject: "[Test] " + out.Subject, HTML: out.HTML, Text: out.Text,
		Categories: []string{category},
	})
	if err != nil {
		s.Log.Error("test email", "shop", sh.ID, "err", err)
		fail(http.StatusBadGateway, "We couldn't send the test just now. Please try again in a few minutes.", false)
		return
	}
	switch res.Outcome {
	case sender.OutcomeSent:
		v.Notice = "Test email sent to " + to + "."
		v.OutboxLink = s.Mail.Outbox != nil
		s.render(c, http.StatusOK, views.TestSendForm(v))
	case sender.OutcomeSkipped:
		switch res.SkipReason {
		case sender.SkipSenderUnverified:
			fail(http.StatusUnprocessableEntity, unverifiedMessage(), true)
		case sender.SkipSenderMissing:
			fail(http.StatusUnprocessableEntity, "Set a sender email in Settings first.", true)
		case sender.SkipSuppressed:
			fail(http.StatusUnprocessableEntity, to+" is on your suppression list (a bounce, complaint or unsubscribe), so nothing is sent to it.", false)
		default:
			fail(http.StatusUnprocessableEntity, "The test was not sent ("+strings.ReplaceAll(res.SkipReason, "_", " ")+").", false)
		}
	default:
		fail(http.StatusBadGateway, "The email provider refused the test: "+res.Error, false)
	}
}

func unverifiedMessage() string {
	msg := strings.TrimPrefix(tracking.ErrSenderUnverified.Error(), "email: ")
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

const outboxPageSize = 50

func (s *server) outboxPage(c *gin.Context) {
	sh := currentShop(c)
	before, _ := strconv.ParseInt(c.Query("before"), 10, 64)
	if before < 0 {
		before = 0
	}
	rows, err := s.Mail.Outbox.List(c.Request.Context(), sh.ID, before, outboxPageSize+1)
	if err != nil {
		s.fail(c, err)
		return
	}
	var l views.OutboxList
	if len(rows) > outboxPageSize {
		rows = rows[:outboxPageSize]
		l.Next = strconv.FormatInt(rows[len(rows)-1].ID, 10)
	}
	for _, m := range rows {
		l.Rows = append(l.Rows, views.OutboxRow{ID: m.ID, To: m.To, Subject: m.Subject, From: m.From,
			When: m.CreatedAt.UTC().Format(time.RFC1123)})
	}
	s.render(c, http.StatusOK, views.Outbox(s.page(c, "Outbox", "templates"), l))
}

func (s *server) loadOutbox(c *gin.Context) (providers.OutboxMessage, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		err = sql.ErrNoRows
	} else {
		var m providers.OutboxMessage
		m, err = s.Mail.Outbox.Get(c.Request.Context(), currentShop(c).ID, id)
		if err == nil {
			return m, true
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		s.renderError(c, http.StatusNotFound, "There is no such message in your outbox.")
		c.Abort()
		return providers.OutboxMessage{}, false
	}
	s.fail(c, err)
	return providers.OutboxMessage{}, false
}

func (s *server) outboxMessage(c *gin.Context) {
	m, ok := s.loadOutbox(c)
	if !ok {
		return
	}
	v := views.OutboxMessage{ID: m.ID, Text: m.Text, Subject: m.Subject, When: m.CreatedAt.UTC().Format(time.RFC1123)}
	for k, val := range m.Headers {
		v.Headers = append(v.Headers, views.KV{Key: k, Value: val})
	}
	sort.Slice(v.Headers, func(i, j int) bool { return v.Headers[i].Key < v.Headers[j].Key })
	s.render(c, http.StatusOK, views.OutboxMessagePage(s.page(c, m.Subject, "templates"), v))
}

// outboxHTML serves the stored HTML for the sandboxed iframe, with a CSP
// that forbids scripts.
func (s *server) outboxHTML(c *gin.Context) {
	m, ok := s.loadOutbox(c)
	if !ok {
		return
	}
	framedHeaders(c, currentShop(c).Domain)
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(m.HTML))
}
