def price_of(response):
    return response.css("p.price::text").re_first(r"[\d.]+")
