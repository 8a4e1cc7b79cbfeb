"""Identity: accounts, server-side sessions in httpOnly cookies, passports."""
