from scraper import FormRequest, Spider


class FormXPathSpider(Spider):
    name = "form_xpath_nr"
    start_urls = ["http://__SITE__/login"]

    def parse(self, response):
        yield FormRequest.from_response(
            response,
            formxpath="//input[@name='user']",
            formdata={"user": "bob", "pass": "wrong", "lang": None},
            dont_click=True,
            callback=self.after,
        )

    def after(self, response):
        yield {"failed": bool(response.css("p.error")), "url": response.url}
