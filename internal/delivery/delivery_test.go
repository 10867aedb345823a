package delivery

import (
	"testing"

	"github.com/yunyi-health/yunyi/internal/courier"
	"github.com/yunyi-health/yunyi/internal/errs"
)

func fieldCodes(err error) map[string]string {
	out := map[string]string{}
	if e, ok := err.(*errs.Error); ok {
		for _, f := range e.Fields {
			out[f.Field] = f.Code
		}
	}
	return out
}

func shop() Pharmacy {
	return Pharmacy{Code: "demo-shop", Name: "示例药房", LicenceNo: "京AA0000009", Phone: "010-00000019", Regions: []string{"110101", "110102"}, Active: true,
		Address: courier.Address{Name: "示例药房", Phone: "010-00000019", Province: "北京市", City: "北京市", District: "东城区", RegionCode: "110101", Detail: "演示路9号"}}
}

// a pharmacy's area, the modes an institution offers and what a
// pharmacy needs to be registered.
func TestPharmacy(t *testing.T) {
	p := shop()
	if err := p.Validate(); err != nil {
		t.Fatalf("a complete pharmacy: %v", err)
	}
	for _, c := range []struct {
		region string
		serves bool
	}{{"110101", true}, {"110102", true}, {"110108", false}, {"130102", false}} {
		if got := p.Serves(courier.Address{RegionCode: c.region}); got != c.serves {
			t.Errorf("serves %s = %v", c.region, got)
		}
	}
	cases := []struct {
		name  string
		edit  func(*Pharmacy)
		field string
		code  string
	}{
		{"bad code", func(p *Pharmacy) { p.Code = "Demo Shop" }, "code", "invalid"},
		{"no name", func(p *Pharmacy) { p.Name = " " }, "name", "required"},
		{"no licence", func(p *Pharmacy) { p.LicenceNo = "" }, "licence_no", "required"},
		{"no street", func(p *Pharmacy) { p.Address.Detail = "" }, "address.detail", "required"},
		{"a landline is fine, letters are not", func(p *Pharmacy) { p.Address.Phone = "010-abc" }, "address.phone", "phone_invalid"},
		{"bad region", func(p *Pharmacy) { p.Regions = []string{"11a"} }, "regions", "invalid"},
	}
	for _, c := range cases {
		p := shop()
		c.edit(&p)
		if got := fieldCodes(p.Validate())[c.field]; got != c.code {
			t.Errorf("%s: %s = %q", c.name, c.field, got)
		}
	}
	// A recipient's phone must be a mobile number; a shop's may be a landline.
	if got := fieldCodes(CheckAddress(shop().Address))["address.phone"]; got != "phone_invalid" {
		t.Errorf("a landline as the recipient's phone: %q", got)
	}
}

func TestOffers(t *testing.T) {
	for _, c := range []struct {
		s                 Settings
		courier, pharmacy bool
	}{
		{Settings{Courier: true}, true, false},
		{Settings{Pharmacies: []string{"a"}}, false, true},
		{Settings{Courier: true, Pharmacies: []string{"a"}}, true, true},
		{Settings{}, false, false},
	} {
		if c.s.Offers(ModeCourier) != c.courier || c.s.Offers(ModePharmacy) != c.pharmacy || c.s.Offers("drone") {
			t.Errorf("%+v", c.s)
		}
	}
}
