#!/usr/bin/python3
"""The stand-in's --version master refuses what master's ValidateApp refuses
(lib/services/app.go, run by CreateApp and UpdateApp): an app name that is
not a lower-case DNS-1123 name, a public_addr with a scheme, a port, an IP,
or upper case.  --version 17 accepts the same apps (older clusters do)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_standin as ts  # noqa: E402
import grpc  # noqa: E402

BAD = [
    ("Web", "", "application name \"Web\" must be a valid DNS subdomain"),
    ("web", "https://web.example.com", "public_addr \"https://web.example.com\" must not contain a URL scheme"),
    ("web", "web.example.com:443", "public_addr \"web.example.com:443\" must not contain a port"),
    ("web", "10.0.0.7", "public_addr \"10.0.0.7\" must be a DNS name, not an IP address"),
    ("web", "Web.example.com", "public_addr \"Web.example.com\" must be a valid DNS subdomain"),
]


class Master(ts.Base):
    EXTRA = ("--version", "master")

    @classmethod
    def setUpClass(cls):
        orig = ts.StandIn

        class WithVersion(orig):
            def __init__(self, state, *extra):
                super().__init__(state, *(cls.EXTRA + extra))
        ts.StandIn = WithVersion
        try:
            super().setUpClass()
        finally:
            ts.StandIn = orig

    def app_with(self, name, addr):
        a = self.app(name)
        a.Spec.PublicAddr = addr
        return a

    def test_create_refuses_what_validate_app_refuses(self):
        for name, addr, text in BAD:
            with self.subTest(name=name, addr=addr):
                code, details = self.rpc_error(self.admin.CreateApp, self.app_with(name, addr))
                self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT, details)
                self.assertIn(text, details)

    def test_update_refuses_too_and_good_apps_pass(self):
        self.admin.CreateApp(self.app_with("shop", "shop.example.com"), timeout=30)
        code, details = self.rpc_error(self.admin.UpdateApp, self.app_with("shop", "10.0.0.7"))
        self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT, details)
        self.admin.UpdateApp(self.app_with("shop", "shop2.example.com"), timeout=30)


class Version17(Master):
    EXTRA = ("--version", "17")

    def test_create_refuses_what_validate_app_refuses(self):
        for i, (name, addr, _) in enumerate(BAD):
            if name != name.lower():
                continue  # v17 refuses upper-case names elsewhere or not at all; not the point here
            with self.subTest(addr=addr):
                self.admin.CreateApp(self.app_with("old-%d" % i, addr), timeout=30)

    def test_update_refuses_too_and_good_apps_pass(self):
        self.admin.CreateApp(self.app_with("shop", "shop.example.com"), timeout=30)
        self.admin.UpdateApp(self.app_with("shop", "10.0.0.7"), timeout=30)


if __name__ == "__main__":
    unittest.main(verbosity=2)
