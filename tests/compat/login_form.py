from scraper import FormRequest, Spider


class LoginSpider(Spider):
    name = "login_form"
    start_urls = ["http://__SITE__/login"]

    def parse(self, response):
        return FormRequest.from_response(
            response, formdata={"user": "ann", "pass": "secret"}, callback=self.after_login
        )

    def after_login(self, response):
        if response.css("p.error"):
            self.logger.error("login failed")
            return
        yield {"page": response.url, "who": response.css("p.who::text").get()}
