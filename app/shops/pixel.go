package shops

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// PixelAPI is the part of the Admin API that activates the web pixel.
type PixelAPI interface {
	GraphQL(ctx context.Context, shop, token, query string, vars any, out any) error
}

const webPixelCreate = `mutation webPixelCreate($webPixel: WebPixelInput!) {
  webPixelCreate(webPixel: $webPixel) { webPixel { id } userErrors { code field message } }
}`

const webPixelQuery = `query webPixel { webPixel { id } }`

const webPixelUpdate = `mutation webPixelUpdate($id: ID!, $webPixel: WebPixelInput!) {
  webPixelUpdate(id: $id, webPixel: $webPixel) { webPixel { id } userErrors { code field message } }
}`

type pixelUserError struct {
	Code    string   `json:"code"`
	Field   []string `json:"field"`
	Message string   `json:"message"`
}

func pixelErr(op string, errs []pixelUserError) error {
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Code+": "+e.Message)
	}
	return fmt.Errorf("shops: %s: %s", op, strings.Join(msgs, "; "))
}

// ActivatePixel turns the app's web pixel on for the shop with these
// settings (they must match the extension's settings definition). A shop
// that reinstalls already has the pixel: it is updated instead, so the
// settings follow the current APP_URL.
func ActivatePixel(ctx context.Context, api PixelAPI, shop, token string, settings map[string]string) error {
	raw, err := json.Marshal(settings)
	if err != nil {
		return fmt.Errorf("shops: pixel settings: %w", err)
	}
	input := map[string]any{"settings": string(raw)}
	var created struct {
		Result struct {
			UserErrors []pixelUserError `json:"userErrors"`
		} `json:"webPixelCreate"`
	}
	if err := api.GraphQL(ctx, shop, token, webPixelCreate, map[string]any{"webPixel": input}, &created); err != nil {
		return fmt.Errorf("shops: webPixelCreate for %s: %w", shop, err)
	}
	errs := created.Result.UserErrors
	if len(errs) == 0 {
		return nil
	}
	if errs[0].Code != "TAKEN" {
		return pixelErr("webPixelCreate", errs)
	}
	var existing struct {
		WebPixel struct {
			ID string `json:"id"`
		} `json:"webPixel"`
	}
	if err := api.GraphQL(ctx, shop, token, webPixelQuery, nil, &existing); err != nil {
		return fmt.Errorf("shops: webPixel for %s: %w", shop, err)
	}
	var updated struct {
		Result struct {
			UserErrors []pixelUserError `json:"userErrors"`
		} `json:"webPixelUpdate"`
	}
	if err := api.GraphQL(ctx, shop, token, webPixelUpdate, map[string]any{"id": existing.WebPixel.ID, "webPixel": input}, &updated); err != nil {
		return fmt.Errorf("shops: webPixelUpdate for %s: %w", shop, err)
	}
	if len(updated.Result.UserErrors) > 0 {
		return pixelErr("webPixelUpdate", updated.Result.UserErrors)
	}
	return nil
}
