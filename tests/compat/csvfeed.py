from scraper.spiders import CSVFeedSpider


class CsvSpider(CSVFeedSpider):
    name = "csvfeed"
    start_urls = ["http://__SITE__/feed.csv"]
    delimiter = ";"
    quotechar = '"'

    def parse_row(self, response, row):
        if int(row["id"]) % 3 == 0:
            return {"id": row["id"], "name": row["name"], "price": float(row["price"])}
        return None
