package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/cartwheel/cartwheel/app/config"
	"github.com/cartwheel/cartwheel/app/shopify"
	"github.com/cartwheel/cartwheel/app/shops"
	"github.com/cartwheel/cartwheel/views"
)

const stateCookie = "cartwheel_oauth_state"

// embeddedEntry is the app URL Shopify loads in the admin iframe. With a
// managed install it is also the install: the first load for a shop we have
// no token for exchanges the session token for an offline one.
func (s *server) embeddedEntry(c *gin.Context) {
	setFrameAncestors(c, c.Query("shop"))
	idToken := c.Query("id_token")
	if idToken == "" {
		if shopify.ValidShopDomain(c.Query("shop")) {
			// Inside the admin without a token yet: App Bridge provides one.
			s.render(c, http.StatusOK, views.Bounce(s.page(c, "Loading", "")))
			return
		}
		if s.Config.Dev() && c.Request.URL.RawQuery == "" {
			// In dev there is no Shopify admin to open the app from: the
			// root URL is the way in, through the dev login.
			c.Redirect(http.StatusFound, "/dev/login?"+url.Values{"shop": {config.DevShop}}.Encode())
			return
		}
		s.renderError(c, http.StatusOK, "Cartwheel runs inside your Shopify admin. Install it from the Shopify App Store, then open it from Apps in your admin.")
		return
	}
	claims, err := shopify.VerifySessionToken(idToken, s.Config.ShopifyAPIKey, s.Config.ShopifyAPISecret, s.Now())
	if err != nil {
		s.renderError(c, http.StatusUnauthorized, "This link is not valid any more. Open Cartwheel again from your Shopify admin. ("+err.Error()+")")
		return
	}
	if q := c.Query("shop"); q != "" && !strings.EqualFold(q, claims.Shop) {
		s.renderError(c, http.StatusBadRequest, "The shop in the address does not match your session. Open Cartwheel again from your Shopify admin.")
		return
	}
	ctx := c.Request.Context()
	if _, err := s.Shops.Installed(ctx, claims.Shop); errors.Is(err, shops.ErrNotFound) || errors.Is(err, shops.ErrNotInstalled) {
		token, err := s.Shopify.ExchangeSessionToken(ctx, claims.Shop, idToken)
		if err != nil {
			s.Log.Error("token exchange", "shop", claims.Shop, "err", err)
			status := http.StatusBadGateway
			if errors.Is(err, shopify.ErrInvalidSessionToken) {
				status = http.StatusUnauthorized
			}
			s.renderError(c, status, "We couldn't finish installing Cartwheel: Shopify did not grant access. Please open the app again from your admin.")
			return
		}
		if _, err := s.Installer.Complete(ctx, claims.Shop, token); err != nil {
			s.fail(c, err)
			return
		}
		s.Log.Info("installed by token exchange", "shop", claims.Shop)
	} else if err != nil {
		s.fail(c, err)
		return
	}
	q := url.Values{}
	for _, k := range []string{"shop", "host", "id_token", "embedded", "locale"} {
		if v := c.Query(k); v != "" {
			q.Set(k, v)
		}
	}
	q.Set("shop", claims.Shop)
	c.Redirect(http.StatusFound, "/app?"+q.Encode())
}

// authBegin starts the legacy OAuth install: checks Shopify's query HMAC,
// binds a one-time state to the browser with a signed cookie and sends the
// merchant to Shopify's consent screen.
func (s *server) authBegin(c *gin.Context) {
	shop, ok := s.checkInstallQuery(c)
	if !ok {
		return
	}
	nonce := randomHex(16)
	if err := s.States.Create(c.Request.Context(), nonce, shop, s.Now()); err != nil {
		s.fail(c, err)
		return
	}
	redirect, err := s.Shopify.AuthorizeURL(shop, s.Config.AppURL.String()+"/auth/callback", nonce)
	if err != nil {
		s.fail(c, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: stateCookie, Value: nonce + "." + s.signState(nonce, shop), Path: "/auth",
		MaxAge: int(shops.StateTTL.Seconds()), HttpOnly: true, Secure: s.Config.AppURL.Scheme == "https",
		SameSite: http.SameSiteLaxMode,
	})
	c.Redirect(http.StatusFound, redirect)
}

// authCallback finishes the legacy OAuth install.
func (s *server) authCallback(c *gin.Context) {
	shop, ok := s.checkInstallQuery(c)
	if !ok {
		return
	}
	state, code := c.Query("state"), c.Query("code")
	if state == "" || code == "" {
		s.renderError(c, http.StatusBadRequest, "The install link is incomplete (state or code is missing). Start the install again from your Shopify admin.")
		return
	}
	cookie, err := c.Request.Cookie(stateCookie)
	nonce, sig, _ := strings.Cut(valueOf(cookie, err), ".")
	if nonce == "" || !hmac.Equal([]byte(sig), []byte(s.signState(nonce, shop))) ||
		!hmac.Equal([]byte(nonce), []byte(state)) {
		s.renderError(c, http.StatusForbidden, "This install link does not belong to this browser session. Start the install again from your Shopify admin.")
		return
	}
	ctx := c.Request.Context()
	valid, err := s.States.Consume(ctx, state, shop, s.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	if !valid {
		s.renderError(c, http.StatusForbidden, "This install link was already used or has expired. Start the install again from your Shopify admin.")
		return
	}
	token, err := s.Shopify.ExchangeCode(ctx, shop, code)
	if err != nil {
		s.Log.Error("oauth code exchange", "shop", shop, "err", err)
		s.renderError(c, http.StatusBadGateway, "Shopify did not accept the install code. Start the install again from your Shopify admin.")
		return
	}
	if _, err := s.Installer.Complete(ctx, shop, token); err != nil {
		s.fail(c, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: stateCookie, Value: "", Path: "/auth", MaxAge: -1, HttpOnly: true,
		Secure: s.Config.AppURL.Scheme == "https", SameSite: http.SameSiteLaxMode})
	s.Log.Info("installed by oauth", "shop", shop)
	c.Redirect(http.StatusFound, "https://"+shop+"/admin/apps/"+url.PathEscape(s.Config.ShopifyAPIKey))
}

// checkInstallQuery validates the shop and Shopify's HMAC over the query.
func (s *server) checkInstallQuery(c *gin.Context) (string, bool) {
	q := c.Request.URL.Query()
	if len(q["shop"]) != 1 || !shopify.ValidShopDomain(q.Get("shop")) {
		s.renderError(c, http.StatusBadRequest, "The shop parameter must be your store's myshopify.com domain, such as your-store.myshopify.com.")
		return "", false
	}
	if err := shopify.VerifyQueryHMAC(c.Request.URL.RawQuery, s.Config.ShopifyAPISecret); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, shopify.ErrHMACMismatch) {
			status = http.StatusUnauthorized
		}
		s.renderError(c, status, "This install link is not signed by Shopify ("+err.Error()+"). Start the install from your Shopify admin.")
		return "", false
	}
	return shops.NormalizeDomain(q.Get("shop")), true
}

// signState binds the nonce to the shop and to this app's secret, so a
// cookie made for one shop cannot complete another shop's install.
func (s *server) signState(nonce, shop string) string {
	m := hmac.New(sha256.New, []byte(s.Config.ShopifyAPISecret))
	m.Write([]byte("oauth-state|" + nonce + "|" + strings.ToLower(shop)))
	return hex.EncodeToString(m.Sum(nil))
}

func valueOf(c *http.Cookie, err error) string {
	if err != nil || c == nil {
		return ""
	}
	return c.Value
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}
