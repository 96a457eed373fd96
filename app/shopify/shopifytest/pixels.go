package shopifytest

import (
	"encoding/json"
	"strconv"
)

// WebPixel is the app's web pixel on a shop, as the pixel mutations left it.
type WebPixel struct {
	ID       int64
	Settings map[string]any
}

// WebPixel returns the shop's pixel, if the app created one.
func (s *Server) WebPixel(shop string) (WebPixel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pixels[shop]
	if !ok {
		return WebPixel{}, false
	}
	return *p, true
}

// RequiredPixelSettings makes the pixel mutations check the settings the
// way Shopify checks them against the extension's settings definition:
// every listed key must be present, non-empty, and nothing else allowed.
func (s *Server) RequiredPixelSettings(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pixelKeys = keys
}

func (s *Server) registerPixelHandlers() {
	s.Handle("webPixelCreate", s.handleWebPixelCreate)
	s.Handle("webPixelUpdate", s.handleWebPixelUpdate)
	s.Handle("webPixel", s.handleWebPixel)
}

func pixelNode(p *WebPixel) map[string]any {
	b, _ := json.Marshal(p.Settings)
	return map[string]any{"__typename": "WebPixel", "id": "gid://shopify/WebPixel/" + strconv.FormatInt(p.ID, 10), "settings": string(b)}
}

func pixelError(code, msg string) map[string]any {
	return map[string]any{"__typename": "ErrorsWebPixelUserError", "code": code, "field": []any{"webPixel", "settings"}, "message": msg}
}

// settingsArg reads settings given as a JSON string (as Shopify's examples
// send it) or as an object.
func (s *Server) settingsArg(c *Call) (map[string]any, map[string]any) {
	in := c.Field.ArgMap("webPixel")
	var settings map[string]any
	switch v := in["settings"].(type) {
	case string:
		if err := json.Unmarshal([]byte(v), &settings); err != nil {
			return nil, pixelError("INVALID_SETTINGS", "Settings must be a JSON object")
		}
	case map[string]any:
		settings = v
	default:
		return nil, pixelError("BLANK", "Settings can't be blank")
	}
	s.mu.Lock()
	keys := s.pixelKeys
	s.mu.Unlock()
	for _, k := range keys {
		if v, ok := settings[k].(string); !ok || v == "" {
			return nil, pixelError("INVALID_SETTINGS", "Settings are invalid: "+k+" is required")
		}
	}
	if len(keys) > 0 && len(settings) != len(keys) {
		return nil, pixelError("INVALID_SETTINGS", "Settings are invalid: unknown setting")
	}
	return settings, nil
}

func (s *Server) handleWebPixelCreate(c *Call) (any, error) {
	settings, uerr := s.settingsArg(c)
	if uerr != nil {
		return map[string]any{"webPixel": nil, "userErrors": []any{uerr}}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pixels == nil {
		s.pixels = map[string]*WebPixel{}
	}
	if _, exists := s.pixels[c.Shop]; exists {
		return map[string]any{"webPixel": nil, "userErrors": []any{pixelError("TAKEN", "Web pixel is taken.")}}, nil
	}
	s.nextID++
	p := &WebPixel{ID: s.nextID, Settings: settings}
	s.pixels[c.Shop] = p
	return map[string]any{"webPixel": pixelNode(p), "userErrors": []any{}}, nil
}

func (s *Server) handleWebPixelUpdate(c *Call) (any, error) {
	settings, uerr := s.settingsArg(c)
	if uerr != nil {
		return map[string]any{"webPixel": nil, "userErrors": []any{uerr}}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pixels[c.Shop]
	if !ok || c.Field.ArgString("id") != "gid://shopify/WebPixel/"+strconv.FormatInt(p.ID, 10) {
		return map[string]any{"webPixel": nil, "userErrors": []any{pixelError("NOT_FOUND", "Web pixel not found")}}, nil
	}
	p.Settings = settings
	return map[string]any{"webPixel": pixelNode(p), "userErrors": []any{}}, nil
}

// handleWebPixel answers the app's own pixel query; without one Shopify
// returns a NOT_FOUND error.
func (s *Server) handleWebPixel(c *Call) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pixels[c.Shop]
	if !ok {
		return nil, &Error{Message: "No web pixel was found for this app.", Code: "NOT_FOUND"}
	}
	return pixelNode(p), nil
}
